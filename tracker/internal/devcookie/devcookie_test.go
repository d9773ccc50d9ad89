package devcookie

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

var (
	secretA = []byte("first-secret-0123456789")
	secretB = []byte("second-secret-0123456789")
)

func mustNew(t testing.TB, secrets ...[]byte) *Signer {
	t.Helper()
	s, err := New(secrets)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := mustNew(t, secretA)
	v := s.AppendNew(nil)
	if len(v) != ValueLen {
		t.Fatalf("len(AppendNew) = %d, want %d", len(v), ValueLen)
	}
	tok, ok := s.Verify(v)
	if !ok {
		t.Fatalf("Verify(%q) = false, want true", v)
	}
	if !bytes.Equal(tok, v[:TokenLen]) {
		t.Fatalf("Verify(%q) token = %q, want %q", v, tok, v[:TokenLen])
	}
	if w := s.AppendNew(nil); bytes.Equal(w[:TokenLen], v[:TokenLen]) {
		t.Fatalf("two AppendNew calls gave the same token %q", w)
	}
}

func TestRotation(t *testing.T) {
	old := mustNew(t, secretB)
	rotated := mustNew(t, secretA, secretB)
	v := old.AppendNew(nil)
	// A cookie signed with a retired-but-listed secret is still accepted.
	if _, ok := rotated.Verify(v); !ok {
		t.Fatalf("rotated.Verify(old cookie %q) = false, want true", v)
	}
	// New cookies are signed with the first secret only.
	n := rotated.AppendNew(nil)
	if _, ok := mustNew(t, secretA).Verify(n); !ok {
		t.Fatalf("cookie %q not signed with the first secret", n)
	}
	if _, ok := old.Verify(n); ok {
		t.Fatalf("cookie %q verified with the second secret only", n)
	}
}

func TestVerifyRejects(t *testing.T) {
	s := mustNew(t, secretA)
	good := string(s.AppendNew(nil))
	other := string(mustNew(t, secretB).AppendNew(nil))
	f := func(value string) {
		t.Helper()
		if tok, ok := s.Verify([]byte(value)); ok {
			t.Fatalf("Verify(%q) = %q, true; want false", value, tok)
		}
	}
	f("")                                                    // empty
	f(good[:ValueLen-1])                                     // truncated
	f(good + "A")                                            // too long
	f(strings.Replace(good, ".", "_", 1))                    // no separator
	f(other)                                                 // signed with an unknown secret
	f(good[:TokenLen+1] + other[TokenLen+1:])                // our token, foreign signature
	f(flip(good, 3))                                         // token tampered
	f(flip(good, ValueLen-3))                                // signature tampered
	f(strings.Repeat("!", TokenLen) + good[TokenLen:])       // not base64
	f(good[:TokenLen] + "." + strings.Repeat("A", TokenLen)) // zero signature
}

// flip changes one character at i to another valid base64url character.
func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestNonCanonicalToken(t *testing.T) {
	s := mustNew(t, secretA)
	v := s.AppendNew(nil)
	// The last of 22 base64 characters carries 4 padding bits; setting one
	// gives the same bytes but another string. It must not verify, or one
	// device could appear under two tokens.
	b := append([]byte(nil), v...)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	idx := strings.IndexByte(alphabet, b[TokenLen-1])
	b[TokenLen-1] = alphabet[idx|1]
	if bytes.Equal(b, v) {
		b[TokenLen-1] = alphabet[idx|2]
	}
	// Re-sign the non-canonical token so only canonicality is tested.
	b = s.mac(b[:TokenLen+1], 0, b[:TokenLen])
	sig := append([]byte(nil), b[TokenLen+1:]...)
	b = enc.AppendEncode(b[:TokenLen+1], sig)
	if _, ok := s.Verify(b); ok {
		t.Fatalf("Verify(non-canonical %q) = true, want false", b)
	}
}

// The signature is canonical too: the last of its 22 characters carries 2
// bits of the MAC and 4 padding bits, and a lenient decoder ignores the
// padding, so 16 spellings of one cookie would verify and one device would
// get 16 token strings. Only the spelling AppendNew writes verifies.
func TestNonCanonicalMAC(t *testing.T) {
	s := mustNew(t, secretA)
	v := s.AppendNew(nil)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, v[ValueLen-1])
	if last&15 != 0 {
		t.Fatalf("AppendNew(%q) set padding bits", v)
	}
	for pad := 1; pad < 16; pad++ {
		b := append([]byte(nil), v...)
		b[ValueLen-1] = alphabet[last|pad]
		if _, ok := s.Verify(b); ok {
			t.Fatalf("Verify(%q, the signature of %q re-spelled) = true, want false", b, v)
		}
	}
	if _, ok := s.Verify(v); !ok {
		t.Fatalf("Verify(%q) = false", v)
	}
}

func TestSetCookie(t *testing.T) {
	f := func(a Attrs, want string) {
		t.Helper()
		if got := string(a.AppendSetCookie(nil, []byte("V"))); got != want {
			t.Fatalf("AppendSetCookie(%+v) = %q, want %q", a, got, want)
		}
	}
	// Host-only cookie, plain http (local development).
	f(Attrs{}, "aff_dt=V; Max-Age=34560000; Path=/; HttpOnly; SameSite=Lax")
	// Production: shared domain and Secure.
	f(Attrs{Domain: "shop.example", Secure: true},
		"aff_dt=V; Max-Age=34560000; Path=/; Domain=shop.example; HttpOnly; SameSite=Lax; Secure")
}

func TestNewNoSecret(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Fatal("New(nil) = nil error, want one")
	}
}

func FuzzVerify(f *testing.F) {
	s := mustNew(f, secretA, secretB)
	f.Add(string(s.AppendNew(nil)))
	f.Add("")
	f.Add(strings.Repeat("A", TokenLen) + "." + strings.Repeat("A", TokenLen))
	f.Add("aff_dt=xyz")
	f.Fuzz(func(t *testing.T, v string) {
		tok, ok := s.Verify([]byte(v))
		if !ok {
			return
		}
		// Anything accepted must have the exact shape and be the one
		// spelling of its bytes.
		if len(v) != ValueLen || string(tok) != v[:TokenLen] {
			t.Fatalf("Verify(%q) accepted a malformed value", v)
		}
		for _, part := range []string{v[:TokenLen], v[TokenLen+1:]} {
			raw, err := base64.RawURLEncoding.DecodeString(part)
			if err != nil || base64.RawURLEncoding.EncodeToString(raw) != part {
				t.Fatalf("Verify(%q) accepted %q, not the canonical base64 of its bytes", v, part)
			}
		}
	})
}

func BenchmarkAppendNew(b *testing.B) {
	s := mustNew(b, secretA)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.AppendNew(buf[:0])
	}
}

func BenchmarkVerify(b *testing.B) {
	s := mustNew(b, secretA, secretB)
	v := s.AppendNew(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Verify(v); !ok {
			b.Fatal("Verify failed")
		}
	}
}
