package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
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

// Categories lists up to MaxPageSize categories by id.
func (s *Storage) Categories(ctx context.Context) ([]Category, error) {
	rows, err := s.pool.Query(ctx, `SELECT category_id, name FROM categories ORDER BY category_id LIMIT $1`, MaxPageSize)
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

// Rate is a specific commission rate (DESIGN 5).
type Rate struct {
	ID         int64
	PartnerID  int64 // 0: every partner
	ProductID  string
	CategoryID string
	RateUPct   int64
}

// RatesOf lists the rates specific to a partner.
func (s *Storage) RatesOf(ctx context.Context, partnerID int64) ([]Rate, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(partner_id, 0), coalesce(product_id, ''), coalesce(category_id, ''), rate_upct
		FROM commission_rates WHERE partner_id = $1 ORDER BY id LIMIT $2`, partnerID, MaxPageSize)
	if err != nil {
		return nil, fmt.Errorf("cannot list rates: %w", err)
	}
	return collect(rows, func(r pgx.Row) (Rate, error) {
		var x Rate
		if err := r.Scan(&x.ID, &x.PartnerID, &x.ProductID, &x.CategoryID, &x.RateUPct); err != nil {
			return Rate{}, fmt.Errorf("cannot read rate: %w", err)
		}
		return x, nil
	})
}

// SetRate upserts a partner+product or partner+category rate.
func (s *Storage) SetRate(ctx context.Context, r Rate) error {
	var pid any
	if r.PartnerID > 0 {
		pid = r.PartnerID
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO commission_rates (partner_id, product_id, category_id, rate_upct)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (partner_id, product_id, category_id) DO UPDATE SET rate_upct = EXCLUDED.rate_upct, updated_at = now()`,
		pid, nullStr(r.ProductID), nullStr(r.CategoryID), r.RateUPct)
	if err != nil {
		return fmt.Errorf("cannot set rate: %w", err)
	}
	return nil
}

// DeleteRate removes a partner's rate.
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
