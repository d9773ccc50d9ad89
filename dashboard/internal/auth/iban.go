package auth

import (
	"errors"
	"strings"
)

// IBAN errors.
var (
	ErrIBANSyntax   = errors.New("IBAN must be 2 letters, 2 digits and 11 to 30 letters or digits")
	ErrIBANChecksum = errors.New("IBAN checksum is wrong")
)

// NormalizeIBAN removes spaces and upper-cases s, then checks the syntax
// and the ISO 7064 mod-97 checksum. It returns the normalised IBAN.
func NormalizeIBAN(s string) (string, error) {
	if len(s) > 64 {
		return "", ErrIBANSyntax
	}
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if len(s) < 15 || len(s) > 34 {
		return "", ErrIBANSyntax
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter, digit := c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
		switch {
		case i < 2 && !letter, i >= 2 && i < 4 && !digit, !letter && !digit:
			return "", ErrIBANSyntax
		}
	}
	// Move the first four characters to the end, map letters to 10..35 and
	// take the number mod 97, digit by digit (no big integers).
	r := s[4:] + s[:4]
	mod := 0
	for i := 0; i < len(r); i++ {
		c := r[i]
		if c >= 'A' {
			v := int(c-'A') + 10
			mod = (mod*100 + v) % 97
		} else {
			mod = (mod*10 + int(c-'0')) % 97
		}
	}
	if mod != 1 {
		return "", ErrIBANChecksum
	}
	return s, nil
}
