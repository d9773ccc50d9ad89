package events

import "time"

// Identity says that a customer logged in or signed up on a device: the shop
// sends it to /v1/identify (topic "identities").
type Identity struct {
	// EventID is the shop's id for this event (opaque, 1..MaxIDLen bytes);
	// consumers drop repeats.
	EventID string
	// At is when the customer identified, in UTC.
	At time.Time
	// DeviceToken is the value of the aff_dt cookie on that device.
	DeviceToken string
	// CustomerID is the shop's customer id.
	CustomerID string
	// Email is the customer's email, optional (lets a partner claim an
	// unbound customer by email).
	Email string
}

// DecodeIdentity decodes and validates one identity event as stored or in
// Kafka: "" as the email reads as absent, as the releases before read it.
func DecodeIdentity(data []byte) (Identity, error) { return decodeIdentity(data, false) }

// DecodeIdentityStrict is DecodeIdentity for an event a shop submits (the
// tracker's /v1/identify, and the JSON schema): "" as the email is refused.
func DecodeIdentityStrict(data []byte) (Identity, error) { return decodeIdentity(data, true) }

func decodeIdentity(data []byte, strict bool) (Identity, error) {
	var e Identity
	var at string
	r, err := decodeObject(data, func(r *reader, key []byte) error {
		var err error
		switch string(key) {
		case "event_id":
			if err = r.mark(0, "event_id"); err == nil {
				e.EventID, err = r.str("event_id")
			}
		case "at":
			if err = r.mark(1, "at"); err == nil {
				at, err = r.str("at")
			}
		case "device_token":
			if err = r.mark(2, "device_token"); err == nil {
				e.DeviceToken, err = r.str("device_token")
			}
		case "customer_id":
			if err = r.mark(3, "customer_id"); err == nil {
				e.CustomerID, err = r.str("customer_id")
			}
		case "email":
			if err = r.mark(4, "email"); err == nil {
				e.Email, err = r.optStr(strict, "email")
			}
		default:
			err = r.skipUnknown(string(key))
		}
		return err
	})
	if err != nil {
		return Identity{}, err
	}
	if err := r.unknownErr(); err != nil {
		return Identity{}, err
	}
	if err := checkIDAs(strict, "event_id", e.EventID, true); err != nil {
		return Identity{}, err
	}
	if e.At, err = parseTimeAs(strict, "at", at); err != nil {
		return Identity{}, err
	}
	if err := checkToken("device_token", e.DeviceToken, true); err != nil {
		return Identity{}, err
	}
	if err := checkIDAs(strict, "customer_id", e.CustomerID, true); err != nil {
		return Identity{}, err
	}
	if err := checkEmail("email", e.Email); err != nil {
		return Identity{}, err
	}
	return e, nil
}

// AppendIdentity appends e as JSON without validating it.
func AppendIdentity(dst []byte, e *Identity) []byte {
	dst = append(dst, `{"v":1,"event_id":`...)
	dst = appendString(dst, e.EventID)
	dst = append(dst, `,"at":`...)
	dst = appendTime(dst, e.At)
	dst = append(dst, `,"device_token":`...)
	dst = appendString(dst, e.DeviceToken)
	dst = append(dst, `,"customer_id":`...)
	dst = appendString(dst, e.CustomerID)
	dst = optString(dst, `,"email":`, e.Email)
	return append(dst, '}')
}

// MarshalJSON encodes e, refusing an event DecodeIdentity would reject.
func (e Identity) MarshalJSON() ([]byte, error) {
	b := AppendIdentity(nil, &e)
	if _, err := DecodeIdentity(b); err != nil {
		return nil, err
	}
	return b, nil
}

// UnmarshalJSON decodes strictly with DecodeIdentity.
func (e *Identity) UnmarshalJSON(b []byte) error {
	v, err := DecodeIdentity(b)
	if err != nil {
		return err
	}
	*e = v
	return nil
}
