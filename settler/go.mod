module github.com/openaff/affiliate/settler

go 1.26.0

require github.com/openaff/affiliate/pkg v0.0.0-00010101000000-000000000000

replace github.com/openaff/affiliate/pkg => ../pkg
