// Package natsembed runs a NATS server with JetStream inside the process, on
// a free loopback port with its own store directory. Tests and cmd/demo use
// it; production runs a real NATS cluster.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options tune the embedded server. The zero value is a sensible default.
type Options struct {
	// StoreDir is the JetStream store. Empty: a new temporary directory that
	// Shutdown removes.
	StoreDir string
	// Port to listen on; 0 picks a free one.
	Port int
	// SyncAlways fsyncs every write before acknowledging it: slower, but an
	// acknowledged message survives power loss even on one node.
	SyncAlways bool
	// MaxPayload overrides the server's max_payload (default 1 MiB).
	MaxPayload int32
}

// Server is a running embedded NATS server.
type Server struct {
	*server.Server
	opts    Options
	tempDir bool
}

// Start launches a server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	s := &Server{opts: o}
	if s.opts.StoreDir == "" {
		dir, err := os.MkdirTemp("", "natsembed-*")
		if err != nil {
			return nil, fmt.Errorf("create store dir: %w", err)
		}
		s.opts.StoreDir, s.tempDir = dir, true
	}
	if s.opts.Port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		s.opts.Port = p
	}
	if err := s.start(); err != nil {
		if s.tempDir {
			os.RemoveAll(s.opts.StoreDir)
		}
		return nil, err
	}
	return s, nil
}

func (s *Server) start() error {
	so := &server.Options{
		Host:       "127.0.0.1",
		Port:       s.opts.Port,
		JetStream:  true,
		StoreDir:   s.opts.StoreDir,
		SyncAlways: s.opts.SyncAlways,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: s.opts.MaxPayload,
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return fmt.Errorf("new nats server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return errors.New("embedded nats server did not become ready in 10s")
	}
	s.Server = ns
	return nil
}

// URL is the client URL of the server.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port) }

// StoreDir is the JetStream store directory.
func (s *Server) StoreDir() string { return s.opts.StoreDir }

// Stop shuts the server down but keeps its store, so Restart can bring back
// what it held.
func (s *Server) Stop() {
	if s.Server != nil {
		s.Server.Shutdown()
		s.Server.WaitForShutdown()
	}
}

// Restart starts the server again on the same port and store.
func (s *Server) Restart() error {
	s.Stop()
	var err error
	// The port may linger briefly after shutdown.
	for i := 0; i < 50; i++ {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Shutdown stops the server and removes a temporary store.
func (s *Server) Shutdown() {
	s.Stop()
	if s.tempDir {
		os.RemoveAll(s.opts.StoreDir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
