package server

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/segmentio/kafka-go"
	"github.com/valyala/fasthttp"

	"github.com/openaff/affiliate/pkg/events"
)

// ingest serves POST /v1/identify and /v1/orders: one JSON event or NDJSON.
// Every event is validated before anything is written; then all are
// written together and the answer is 202 once they are durable (Kafka ack,
// or spool fsync), 503 when neither worked.
func (s *Server) ingest(ctx *fasthttp.RequestCtx, topic string, identity bool) {
	if !ctx.IsPost() {
		s.m.badMethod.Inc()
		ctx.Response.Header.Set("Allow", "POST")
		ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
		return
	}
	if !s.authorized(ctx) {
		s.m.ingestAuth.Inc()
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="tracker"`)
		jsonError(ctx, fasthttp.StatusUnauthorized, "missing or invalid bearer key", "", 0)
		return
	}
	msgs, ferr, status := s.decode(ctx.PostBody(), topic, identity)
	if ferr != nil {
		s.m.ingestBad.Inc()
		jsonError(ctx, status, ferr.Msg, ferr.Field, ferr.Line)
		return
	}
	if err := s.o.Producer.Send(msgs); err != nil {
		s.m.ingestBusy.Inc()
		s.o.Logger.Error("shop events not stored", "topic", topic, "events", len(msgs), "error", err)
		jsonError(ctx, fasthttp.StatusServiceUnavailable, "events could not be stored, retry later", "", 0)
		return
	}
	s.m.ingestOK.Inc()
	ctx.SetStatusCode(fasthttp.StatusAccepted)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"accepted":` + strconv.Itoa(len(msgs)) + `}`)
}

// decode validates every event of body and returns the Kafka messages,
// each re-encoded canonically (its memory is its own, not the request's).
// The body is one JSON event, which may span lines (pretty-printed), or
// NDJSON (events.DecodeNDJSON: blank lines ignored, errors name the line).
// On error it returns the status to answer: 400 for a bad event, 413 for
// more than MaxEvents events or an event over MaxMessageBytes.
func (s *Server) decode(body []byte, topic string, identity bool) ([]kafka.Message, *events.FieldError, int) {
	status := fasthttp.StatusBadRequest
	n := 0
	// One more than MaxEvents for DecodeNDJSON: the callback refuses the
	// extra event itself, to answer 413 with the flag's name.
	msgs, err := events.DecodeNDJSON(body, s.o.MaxEvents+1, func(ev []byte) (kafka.Message, error) {
		if n++; n > s.o.MaxEvents {
			status = fasthttp.StatusRequestEntityTooLarge
			return kafka.Message{}, errors.New("more than " + strconv.Itoa(s.o.MaxEvents) + " events in one request (see -max-events)")
		}
		var key string
		var value []byte
		if identity {
			e, err := events.DecodeIdentityStrict(ev)
			if err != nil {
				return kafka.Message{}, err
			}
			key, value = e.DeviceToken, events.AppendIdentity(nil, &e)
		} else {
			o, err := events.DecodeOrderStrict(ev)
			if err != nil {
				return kafka.Message{}, err
			}
			key, value = o.OrderID, events.AppendOrder(nil, &o)
		}
		if limit := s.o.MaxMessageBytes; limit > 0 && len(key)+len(value) > limit {
			status = fasthttp.StatusRequestEntityTooLarge
			return kafka.Message{}, errors.New("event of " + strconv.Itoa(len(key)+len(value)) +
				" bytes is larger than the " + strconv.Itoa(limit) + " bytes Kafka takes (see -kafka-batch-bytes)")
		}
		return kafka.Message{Topic: topic, Key: []byte(key), Value: value}, nil
	})
	if err != nil {
		var fe *events.FieldError
		if !errors.As(err, &fe) {
			fe = &events.FieldError{Msg: err.Error()}
		}
		if status == fasthttp.StatusRequestEntityTooLarge && n > s.o.MaxEvents {
			fe.Line = 0 // the request, not one event
		}
		return nil, fe, status
	}
	return msgs, nil, 0
}

func jsonError(ctx *fasthttp.RequestCtx, status int, msg, field string, line int) {
	b, err := json.Marshal(struct {
		Error string `json:"error"`
		Field string `json:"field"`
		Line  int    `json:"line"`
	}{msg, field, line})
	if err != nil {
		panic("BUG: cannot encode an error body: " + err.Error())
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}
