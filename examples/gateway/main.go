// An OpenAI-compatible gateway that routes each chat request to the cheapest
// model that will answer it well, with librouter's Go binding.
//
// Usage: gateway -config gateway.json
//
// POST /v1/chat/completions with "model": "auto" (or another configured
// alias) is routed on the conversation's text; a catalog model is passed
// through. SIGHUP reloads the router file; SIGINT and SIGTERM drain the
// requests in flight and stop. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	configPath := flag.String("config", "gateway.json", "the gateway's JSON config file")
	listen := flag.String("listen", "", "address to serve on; overrides the config's listen")
	flag.Parse()
	logger := log.New(os.Stderr, "gateway: ", log.LstdFlags|log.Lmicroseconds)
	if err := run(*configPath, *listen, logger); err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}

func run(configPath, listen string, logger *log.Logger) error {
	cfg, err := LoadConfig(configPath, os.Getenv)
	if err != nil {
		return err
	}
	if listen != "" {
		cfg.Listen = listen
	}
	g, err := New(cfg, logger.Printf)
	if err != nil {
		return err
	}
	listener, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		g.Close()
		return err
	}
	server := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		// No WriteTimeout: it would cut long streams. The upstream timeouts
		// in the config's limits bound each request instead.
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	logger.Printf("listening on %s, routing with %s", listener.Addr(), cfg.RouterFile)

	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	for {
		select {
		case err := <-served:
			return err // the router is not freed: handlers may still run
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				g.Reload() // logs its outcome; a refused file keeps the current router
				continue
			}
			logger.Printf("%v: draining requests in flight", sig)
			ctx, cancel := context.WithTimeout(context.Background(),
				time.Duration(cfg.Limits.ShutdownTimeoutMS)*time.Millisecond)
			err := server.Shutdown(ctx)
			cancel()
			if err != nil {
				// Requests still run: the router must outlive them, so it
				// is not freed; the process exits.
				return fmt.Errorf("shutdown: %w", err)
			}
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			g.Close() // no request is in flight any more
			logger.Print("stopped")
			return nil
		}
	}
}
