package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Roles of dashboard users.
const (
	RoleAdmin   = "admin"
	RolePartner = "partner"
)

// User is a dashboard login. PartnerID is set exactly for partner users.
// Disabled is true for a disabled login and for the login of a suspended
// partner: neither can log in, and their sessions stop working at once
// (and work again when the partner is made active).
type User struct {
	ID           int64
	Email        string
	PasswordHash string
	Role         string
	PartnerID    int64
	Disabled     bool
}

// loginDisabled is true for a users row u that may not log in.
const loginDisabled = `(u.disabled_at IS NOT NULL OR EXISTS
	(SELECT 1 FROM partners p WHERE p.id = u.partner_id AND p.status = 'suspended'))`

const userColumns = `u.id, u.email, u.password_hash, u.role, coalesce(u.partner_id, 0), ` + loginDisabled

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.PartnerID, &u.Disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("cannot read user: %w", err)
	}
	return u, nil
}

// UserByEmail finds a user by e-mail, case-insensitively.
func (s *Storage) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE lower(u.email) = lower($1)`, email))
}

// User finds a user by id.
func (s *Storage) User(ctx context.Context, id int64) (User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
}

// UserByPartner finds the login of a partner: the oldest, should there be
// several (logins follow the partner's e-mail, so there is one unless it
// was created otherwise).
func (s *Storage) UserByPartner(ctx context.Context, partnerID int64) (User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u
		WHERE u.partner_id = $1 AND u.role = 'partner' ORDER BY u.id LIMIT 1`, partnerID))
}

// CreateAdmin creates an admin user, or sets the password of an existing
// admin with that e-mail (so the command can reset a forgotten password).
// An existing partner user with the e-mail is a conflict.
func (s *Storage) CreateAdmin(ctx context.Context, email, passwordHash string) (User, error) {
	var id int64
	var role string
	err := s.pool.QueryRow(ctx, `INSERT INTO users (email, password_hash, role) VALUES ($1, $2, 'admin')
		ON CONFLICT (lower(email)) DO UPDATE SET password_hash = EXCLUDED.password_hash, updated_at = now()
		WHERE users.role = 'admin'
		RETURNING id, role`, strings.TrimSpace(email), passwordHash).Scan(&id, &role)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, &FieldError{Field: "email", Msg: "belongs to a partner user", Err: ErrConflict}
	}
	if err != nil {
		return User{}, fmt.Errorf("cannot create admin: %w", err)
	}
	// A reset password logs out whoever used the old one.
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
		return User{}, fmt.Errorf("cannot end sessions: %w", err)
	}
	return s.User(ctx, id)
}

// TouchLogin records a successful login time.
func (s *Storage) TouchLogin(ctx context.Context, userID int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE users SET last_login_at = now() WHERE id = $1`, userID)
	if err != nil {
		return fmt.Errorf("cannot update last login: %w", err)
	}
	return nil
}

// ChangePassword replaces a user's password hash if it is still oldHash
// (the one the current password was checked against) and ends the user's
// other sessions: every one but keepTokenHash's. A password changed in the
// meantime is a conflict on "current password".
func (s *Storage) ChangePassword(ctx context.Context, userID int64, oldHash, newHash string, keepTokenHash []byte) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $3, updated_at = now()
			WHERE id = $1 AND password_hash = $2`, userID, oldHash, newHash)
		if err != nil {
			return fmt.Errorf("cannot change password: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return &FieldError{Field: "current password", Msg: "was changed meanwhile: enter the new one", Err: ErrConflict}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`, userID, keepTokenHash); err != nil {
			return fmt.Errorf("cannot end other sessions: %w", err)
		}
		return nil
	})
}

// SetPassword replaces a user's password hash and ends the user's
// sessions (whoever knew the old password is logged out).
func (s *Storage) SetPassword(ctx context.Context, userID int64, hash string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`, userID, hash); err != nil {
			return fmt.Errorf("cannot set password: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("cannot end sessions: %w", err)
		}
		return nil
	})
}

// Session is a logged-in browser session.
type Session struct {
	User User
	// TokenHash is the SHA-256 of the session's token.
	TokenHash  []byte
	CSRFSecret []byte
	ExpiresAt  time.Time
}

// CreateSession stores a session by the hash of its token.
func (s *Storage) CreateSession(ctx context.Context, tokenHash []byte, userID int64, csrf []byte, ttl time.Duration) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, csrf_secret, expires_at)
		VALUES ($1, $2, $3, now() + $4::bigint * interval '1 microsecond')`, tokenHash, userID, csrf, durationArg(ttl))
	if err != nil {
		return fmt.Errorf("cannot create session: %w", err)
	}
	return nil
}

// SessionByTokenHash returns the live session with its user; an expired
// session or a disabled user (a suspended partner's too) is ErrNotFound.
func (s *Storage) SessionByTokenHash(ctx context.Context, tokenHash []byte) (Session, error) {
	var se Session
	u := &se.User
	err := s.pool.QueryRow(ctx, `SELECT `+userColumns+`, s.csrf_secret, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT `+loginDisabled, tokenHash).Scan(
		&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.PartnerID, &u.Disabled, &se.CSRFSecret, &se.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("cannot read session: %w", err)
	}
	se.TokenHash = tokenHash
	return se, nil
}

// DeleteSession removes a session (logout).
func (s *Storage) DeleteSession(ctx context.Context, tokenHash []byte) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
	if err != nil {
		return fmt.Errorf("cannot delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes expired sessions and login attempts older
// than keep, in bounded batches.
func (s *Storage) DeleteExpiredSessions(ctx context.Context, keep time.Duration) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash IN
		(SELECT token_hash FROM sessions WHERE expires_at < now() LIMIT 10000)`); err != nil {
		return fmt.Errorf("cannot delete expired sessions: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_attempts WHERE id IN
		(SELECT id FROM login_attempts WHERE at < now() - $1::bigint * interval '1 microsecond' LIMIT 10000)`, durationArg(keep)); err != nil {
		return fmt.Errorf("cannot delete old login attempts: %w", err)
	}
	return nil
}

// LoginAttempt is a password check in progress: recorded as a failure
// before the check (StartLoginAttempt), so that concurrent checks count
// each other, and finished by FinishLoginAttempt or DropLoginAttempt.
type LoginAttempt struct {
	ID int64
	// Failed attempts in the window other than this one: for the e-mail
	// from the address prefix, for the prefix, and for the e-mail from
	// anywhere.
	ByPair, ByIP, ByEmail int
}

// StartLoginAttempt records a failed attempt for email from ipPrefix, and
// only then counts the other failures since `since`. The insert commits
// before the count, so of any number of concurrent attempts (on any number
// of dashboard processes) each sees every attempt committed before its
// count: if k attempts see fewer than n failures, k is at most n minus the
// failures before them. Contention can make an attempt see more than came
// before it (it is then refused too), never fewer.
func (s *Storage) StartLoginAttempt(ctx context.Context, email, ipPrefix string, since time.Time) (LoginAttempt, error) {
	if len(email) > 320 {
		email = email[:320]
	}
	var a LoginAttempt
	if err := s.pool.QueryRow(ctx, `INSERT INTO login_attempts (email, ip_prefix, success) VALUES (lower($1), $2, false)
		RETURNING id`, email, ipPrefix).Scan(&a.ID); err != nil {
		return LoginAttempt{}, fmt.Errorf("cannot record login attempt: %w", err)
	}
	err := s.pool.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE email = lower($1)),
		(SELECT count(*) FROM login_attempts WHERE ip_prefix = $2 AND at >= $3 AND NOT success AND id <> $4),
		(SELECT count(*) FROM login_attempts WHERE email = lower($1) AND at >= $3 AND NOT success AND id <> $4)
		FROM login_attempts WHERE ip_prefix = $2 AND at >= $3 AND NOT success AND id <> $4`,
		email, ipPrefix, since, a.ID).Scan(&a.ByPair, &a.ByIP, &a.ByEmail)
	if err != nil {
		return LoginAttempt{}, fmt.Errorf("cannot count failed logins: %w", err)
	}
	return a, nil
}

// FinishLoginAttempt marks a started attempt as a success; a failed one
// is already recorded as such.
func (s *Storage) FinishLoginAttempt(ctx context.Context, a LoginAttempt, success bool) error {
	if !success {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `UPDATE login_attempts SET success = true WHERE id = $1`, a.ID); err != nil {
		return fmt.Errorf("cannot record login success: %w", err)
	}
	return nil
}

// DropLoginAttempt removes a started attempt that was refused for the
// rate limit without checking a password: only checked passwords count.
func (s *Storage) DropLoginAttempt(ctx context.Context, a LoginAttempt) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_attempts WHERE id = $1`, a.ID); err != nil {
		return fmt.Errorf("cannot drop login attempt: %w", err)
	}
	return nil
}
