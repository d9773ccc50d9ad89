// Command bare is the baseline of the tracker load benchmark: a fasthttp
// server with the tracker's server settings that answers every request
// with a fixed 302, Location, Cache-Control and a Set-Cookie of the same
// size as the tracker's device cookie. It does no lookup, no signing and
// no click capture: the tracker's throughput is compared against it.
package main

import (
	"flag"
	"log"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address host:port")
	flag.Parse()
	location := []byte("https://shop.example/p/42?ref=bench")
	cookie := []byte("aff_dt=AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA; Max-Age=34560000; Path=/; HttpOnly; SameSite=Lax")
	s := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetStatusCode(fasthttp.StatusFound)
			ctx.Response.Header.SetBytesV("Location", location)
			ctx.Response.Header.Set("Cache-Control", "private, no-store")
			ctx.Response.Header.SetBytesV("Set-Cookie", cookie)
		},
		Name:                  "bare",
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		ReadBufferSize:        8 << 10,
		MaxRequestBodySize:    4 << 20,
		ReadTimeout:           5 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		Concurrency:           64 << 10,
	}
	log.Fatal(s.ListenAndServe(*addr))
}
