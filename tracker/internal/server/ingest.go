package server

import (
	"bytes"
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
	msgs, ferr, tooMany := s.decode(ctx.PostBody(), topic, identity)
	if tooMany {
		jsonError(ctx, fasthttp.StatusRequestEntityTooLarge,
			"more than "+strconv.Itoa(s.o.MaxEvents)+" events in one request (see -max-events)", "", 0)
		s.m.ingestBad.Inc()
		return
	}
	if ferr != nil {
		s.m.ingestBad.Inc()
		jsonError(ctx, fasthttp.StatusBadRequest, ferr.Msg, ferr.Field, ferr.Line)
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

// decode validates every line of body and returns the Kafka messages, each
// re-encoded canonically (its memory is its own, not the request's). Blank
// lines are ignored; a body without any event is an error.
func (s *Server) decode(body []byte, topic string, identity bool) ([]kafka.Message, *events.FieldError, bool) {
	var msgs []kafka.Message
	line := 0
	for len(body) > 0 {
		line++
		var ln []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			ln, body = body[:i], body[i+1:]
		} else {
			ln, body = body, nil
		}
		ln = bytes.TrimRight(ln, "\r")
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		if len(msgs) == s.o.MaxEvents {
			return nil, nil, true
		}
		var key string
		var value []byte
		var err error
		if identity {
			var e events.Identity
			if e, err = events.DecodeIdentity(ln); err == nil {
				key, value = e.DeviceToken, events.AppendIdentity(nil, &e)
			}
		} else {
			var o events.Order
			if o, err = events.DecodeOrder(ln); err == nil {
				key, value = o.OrderID, events.AppendOrder(nil, &o)
			}
		}
		if err != nil {
			var fe *events.FieldError
			if !errors.As(err, &fe) {
				fe = &events.FieldError{Msg: err.Error()}
			}
			fe.Line = line
			return nil, fe, false
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(key), Value: value})
	}
	if len(msgs) == 0 {
		return nil, &events.FieldError{Msg: "no event in body", Line: 0}, false
	}
	return msgs, nil, false
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
