package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openaff/affiliate/pkg/money"
)

// Product is a catalog entry.
type Product struct {
	ID         string
	CategoryID string
	Name       string
	URL        string
}

// Category is a catalog category.
type Category struct {
	ID   string
	Name string
}

func scanProduct(row pgx.Row) (Product, error) {
	var p Product
	err := row.Scan(&p.ID, &p.CategoryID, &p.Name, &p.URL)
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, ErrNotFound
	}
	if err != nil {
		return Product{}, fmt.Errorf("cannot read product: %w", err)
	}
	return p, nil
}

// Products lists catalog products whose name or id starts with query.
func (s *Storage) Products(ctx context.Context, query string, pg Page) ([]Product, bool, error) {
	pg = pg.Normalize()
	q := likeEscape(strings.ToLower(strings.TrimSpace(query)))
	rows, err := s.pool.Query(ctx, `SELECT product_id, coalesce(category_id, ''), name, coalesce(url, '') FROM products
		WHERE $1 = '' OR lower(name) LIKE $1 || '%' OR product_id LIKE $1 || '%'
		ORDER BY product_id LIMIT $2 OFFSET $3`, q, pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list products: %w", err)
	}
	out, err := collect(rows, scanProduct)
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

// Product reads one product.
func (s *Storage) Product(ctx context.Context, id string) (Product, error) {
	return scanProduct(s.pool.QueryRow(ctx, `SELECT product_id, coalesce(category_id, ''), name, coalesce(url, '')
		FROM products WHERE product_id = $1`, id))
}

// Categories lists up to MaxPageSize categories by id: those of the
// categories table (an imported catalog) together with the category ids of
// products, which is all the settler records of the categories it sees in
// orders; an id in both is listed once, with the table's name. Name is ""
// for a category only products know.
func (s *Storage) Categories(ctx context.Context) ([]Category, error) {
	// The first MaxPageSize ids of the union are among the first MaxPageSize
	// of each side, so each side is bounded before they are merged. The
	// products side skips through products_category_idx one category at a
	// time (a loose index scan: one index probe per distinct id), since a
	// DISTINCT over products reads every product (135-151 ms at a million
	// products in 40 categories, on every links page).
	rows, err := s.pool.Query(ctx, categoriesQuery, MaxPageSize)
	if err != nil {
		return nil, fmt.Errorf("cannot list categories: %w", err)
	}
	return collect(rows, func(r pgx.Row) (Category, error) {
		var c Category
		if err := r.Scan(&c.ID, &c.Name); err != nil {
			return Category{}, fmt.Errorf("cannot read category: %w", err)
		}
		return c, nil
	})
}

// categoriesQuery is Categories' query ($1: how many).
const categoriesQuery = `WITH RECURSIVE pc(id) AS (
			(SELECT category_id FROM products WHERE category_id IS NOT NULL ORDER BY category_id LIMIT 1)
			UNION ALL
			SELECT (SELECT p.category_id FROM products p WHERE p.category_id > pc.id ORDER BY p.category_id LIMIT 1)
			FROM pc WHERE pc.id IS NOT NULL)
		SELECT id, max(name) FROM (
			(SELECT category_id AS id, name FROM categories ORDER BY category_id LIMIT $1)
			UNION ALL
			(SELECT id, '' FROM pc WHERE id IS NOT NULL LIMIT $1)
		) AS c GROUP BY id ORDER BY id LIMIT $1`

// ImportProducts upserts products (and their categories) from the admin's
// catalog file in one transaction: all or nothing.
func (s *Storage) ImportProducts(ctx context.Context, ps []Product) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		for _, p := range ps {
			if p.CategoryID != "" {
				if _, err := tx.Exec(ctx, `INSERT INTO categories (category_id, source) VALUES ($1, 'import')
					ON CONFLICT (category_id) DO NOTHING`, p.CategoryID); err != nil {
					return fmt.Errorf("cannot import category %q: %w", p.CategoryID, err)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO products (product_id, category_id, name, url, source)
				VALUES ($1, $2, $3, $4, 'import')
				ON CONFLICT (product_id) DO UPDATE SET category_id = EXCLUDED.category_id, name = EXCLUDED.name,
					url = EXCLUDED.url, source = 'import', updated_at = now()`,
				p.ID, nullStr(p.CategoryID), p.Name, nullStr(p.URL)); err != nil {
				return fmt.Errorf("cannot import product %q: %w", p.ID, err)
			}
		}
		return nil
	})
}

// Rate is a specific commission rate (DESIGN 5): exactly one of ProductID
// and CategoryID is set. With a PartnerID it is a partner+product or
// partner+category rate; without one it is program-wide (a product or
// category rate for every partner).
type Rate struct {
	ID         int64
	PartnerID  int64 // 0: program-wide, every partner
	ProductID  string
	CategoryID string
	RateUPct   int64 // micro-percent, 0..money.MaxRate
	// Name is the catalog name of the product or category, read by Rates
	// ("" when the catalog does not know the id yet); SetRate ignores it.
	Name string
}

// MaxRateTargetChars bounds a rate's product or category id (the schema's
// limit on both, in characters).
const MaxRateTargetChars = 200

// validateTarget checks that r names exactly one product or category, as
// text Postgres can store.
func (r Rate) validateTarget() error {
	switch {
	case r.PartnerID < 0:
		panic("BUG: negative partner id in a rate")
	case r.ProductID == "" && r.CategoryID == "":
		return &FieldError{Field: "product_id", Msg: "is required (or category_id)"}
	case r.ProductID != "" && r.CategoryID != "":
		return &FieldError{Field: "category_id", Msg: "cannot be given with product_id: a rate is for a product or for a category"}
	}
	field, id := r.targetField(), r.ProductID+r.CategoryID
	switch {
	case !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl):
		return &FieldError{Field: field, Msg: "must be UTF-8 text without control characters"}
	case utf8.RuneCountInString(id) > MaxRateTargetChars:
		return &FieldError{Field: field, Msg: fmt.Sprintf("is longer than %d characters", MaxRateTargetChars)}
	}
	return nil
}

// targetField names the field that identifies r (product_id or category_id).
func (r Rate) targetField() string {
	if r.ProductID != "" {
		return "product_id"
	}
	return "category_id"
}

// Rates lists a page of the specific rates of a partner, or of the
// program-wide rates when partnerID is 0: product rates first, then
// category rates, each ordered by its product or category id.
func (s *Storage) Rates(ctx context.Context, partnerID int64, pg Page) ([]Rate, bool, error) {
	pg = pg.Normalize()
	// Two spellings so each can use its index (IS NOT DISTINCT FROM cannot).
	scope := `r.partner_id = $1`
	if partnerID == 0 {
		scope = `r.partner_id IS NULL AND $1::bigint = 0`
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id, coalesce(r.partner_id, 0), coalesce(r.product_id, ''), coalesce(r.category_id, ''),
			r.rate_upct, coalesce(p.name, c.name, '')
		FROM commission_rates r
		LEFT JOIN products p ON p.product_id = r.product_id
		LEFT JOIN categories c ON c.category_id = r.category_id
		WHERE `+scope+`
		ORDER BY r.product_id IS NULL, r.product_id, r.category_id, r.id LIMIT $2 OFFSET $3`, partnerID, pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list rates: %w", err)
	}
	out, err := collect(rows, func(r pgx.Row) (Rate, error) {
		var x Rate
		if err := r.Scan(&x.ID, &x.PartnerID, &x.ProductID, &x.CategoryID, &x.RateUPct, &x.Name); err != nil {
			return Rate{}, fmt.Errorf("cannot read rate: %w", err)
		}
		return x, nil
	})
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

// RatesOf lists up to MaxPageSize rates specific to a partner (partnerID
// 0: the program-wide rates).
func (s *Storage) RatesOf(ctx context.Context, partnerID int64) ([]Rate, error) {
	rs, _, err := s.Rates(ctx, partnerID, Page{Size: MaxPageSize})
	return rs, err
}

// SetRate upserts a product or category rate, of a partner or (PartnerID
// 0) program-wide. Bad input is a *FieldError naming the field (product_id,
// category_id, rate, partner_id) and writes nothing.
func (s *Storage) SetRate(ctx context.Context, r Rate) error {
	if err := r.validateTarget(); err != nil {
		return err
	}
	if r.RateUPct < 0 || r.RateUPct > int64(money.MaxRate) {
		return &FieldError{Field: "rate", Msg: "must be between 0 and 100 percent"}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO commission_rates (partner_id, product_id, category_id, rate_upct)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (partner_id, product_id, category_id) DO UPDATE SET rate_upct = EXCLUDED.rate_upct, updated_at = now()`,
		nullID(r.PartnerID), nullStr(r.ProductID), nullStr(r.CategoryID), r.RateUPct)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" { // foreign key: no such partner
		return &FieldError{Field: "partner_id", Msg: "no such partner", Err: ErrNotFound}
	}
	if err != nil {
		return fmt.Errorf("cannot set rate: %w", err)
	}
	return nil
}

// UnsetRate removes the rate for r's product or category (of r's partner,
// or program-wide when PartnerID is 0); the rate value is ignored. No such
// rate is a *FieldError naming the product_id or category_id field that
// wraps ErrNotFound.
func (s *Storage) UnsetRate(ctx context.Context, r Rate) error {
	if err := r.validateTarget(); err != nil {
		return err
	}
	// The table is small (the settler loads it whole), so a scan is fine.
	tag, err := s.pool.Exec(ctx, `DELETE FROM commission_rates
		WHERE partner_id IS NOT DISTINCT FROM $1 AND product_id IS NOT DISTINCT FROM $2 AND category_id IS NOT DISTINCT FROM $3`,
		nullID(r.PartnerID), nullStr(r.ProductID), nullStr(r.CategoryID))
	if err != nil {
		return fmt.Errorf("cannot delete rate: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return &FieldError{Field: r.targetField(), Msg: "has no rate to remove", Err: ErrNotFound}
	}
	return nil
}

// DeleteRate removes a partner's rate by id.
func (s *Storage) DeleteRate(ctx context.Context, partnerID, rateID int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM commission_rates WHERE id = $1 AND partner_id = $2`, rateID, partnerID)
	if err != nil {
		return fmt.Errorf("cannot delete rate: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
