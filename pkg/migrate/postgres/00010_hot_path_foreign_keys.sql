-- Foundation schema, part 10: no foreign keys on the settlement hot path.
--
-- A settlement pass writes one attribution per order and one commission per
-- order line (1M orders: about 4M rows). Each foreign key costs a trigger
-- and an index probe per row; measured on the 2-core machine, inserting
-- 100k commissions took 3.5-3.8 s with the three keys below and 1.4-2.0 s
-- without them (pkg/migrate/README.md). These rows are derived: the settler
-- writes them in the transaction that reads their parents, and parents are
-- never deleted (orders, lines and partners have no delete path), so the
-- keys guarded against nothing the code can do. Keys on low-volume columns
-- (approved_by, binding_id, override_id) stay.

-- +goose Up
ALTER TABLE commissions
    DROP CONSTRAINT commissions_order_id_line_id_fkey,
    DROP CONSTRAINT commissions_order_id_attribution_version_fkey,
    DROP CONSTRAINT commissions_partner_id_fkey;
ALTER TABLE attributions
    DROP CONSTRAINT attributions_order_id_fkey,
    DROP CONSTRAINT attributions_partner_id_fkey;

-- +goose Down
ALTER TABLE attributions
    ADD CONSTRAINT attributions_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (order_id),
    ADD CONSTRAINT attributions_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES partners (id);
ALTER TABLE commissions
    ADD CONSTRAINT commissions_order_id_line_id_fkey FOREIGN KEY (order_id, line_id) REFERENCES order_lines (order_id, line_id),
    ADD CONSTRAINT commissions_order_id_attribution_version_fkey FOREIGN KEY (order_id, attribution_version) REFERENCES attributions (order_id, version),
    ADD CONSTRAINT commissions_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES partners (id);
