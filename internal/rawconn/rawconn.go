// Package rawconn reads and writes TCP sockets with raw system calls, still
// through the runtime's poller (syscall.RawConn), so deadlines and Close work
// as on any net.Conn.
//
// Why: a socket from package net is non-blocking, yet each of its reads and
// writes goes through the scheduler's bookkeeping for a call that might
// block (entersyscall/exitsyscall). When the edge's processors have all
// been idle for a moment — many times a second on a busy two-core machine —
// the runtime's monitor thread sleeps, and the next such call wakes it
// (a futex wake-up and a context switch), after which it polls every 20 µs
// for a millisecond. A raw call cannot block on a non-blocking socket and
// skips all of that: in the edge's profile, 0.1 monitor wake-ups per request
// became 0.01, context switches 0.33 → 0.20 per request, and the edge's CPU
// per request fell to 0.90× (docs/performance.md). A raw call keeps its
// processor for the call's duration, which for a non-blocking socket is
// microseconds.
package rawconn

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Conn is a socket read and written with raw system calls. Everything else
// (addresses, deadlines, Close) is the wrapped connection's.
type Conn struct {
	net.Conn
	rc syscall.RawConn
	// The poller calls readFn and writeFn, made once so that a call
	// allocates nothing; each works on its direction's fields, under its mutex.
	rmu     sync.Mutex
	rbuf    []byte
	rn      int
	rerrno  syscall.Errno
	readFn  func(uintptr) bool
	wmu     sync.Mutex
	wbuf    []byte
	wn      int
	werrno  syscall.Errno
	writeFn func(uintptr) bool
}

// Wrap returns c reading and writing with raw system calls, or c itself when
// it is not a socket (net.Pipe in tests, a TLS connection).
func Wrap(c net.Conn) net.Conn {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return c
	}
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return c
	}
	rw := &Conn{Conn: c, rc: rc}
	rw.readFn, rw.writeFn = rw.readRaw, rw.writeRaw
	return rw
}

// SyscallConn is the socket's, for callers that write to it themselves
// (wsbridge's fan-out workers).
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// SetWriteBuffer passes the socket option through (wsbridge shrinks the send
// buffers of subscribers).
func (c *Conn) SetWriteBuffer(n int) error {
	if tc, ok := c.Conn.(interface{ SetWriteBuffer(int) error }); ok {
		return tc.SetWriteBuffer(n)
	}
	return nil
}

// Read reads like net.Conn.Read: it waits in the poller until data, the
// deadline or Close, and returns io.EOF once the peer has closed.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return c.Conn.Read(p) // as package net answers it (closed: net.ErrClosed)
	}
	c.rmu.Lock()
	c.rbuf, c.rn, c.rerrno = p, 0, 0
	err := c.rc.Read(c.readFn)
	n, errno := c.rn, c.rerrno
	c.rbuf = nil
	c.rmu.Unlock()
	if err := c.failure("read", err, errno); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) readRaw(fd uintptr) bool {
	for {
		n, e := sysRead(fd, c.rbuf)
		if e == syscall.EINTR {
			continue
		}
		c.rn, c.rerrno = n, e
		return e != syscall.EAGAIN // EAGAIN: wait in the poller, then again
	}
}

// Write writes all of p like net.Conn.Write, waiting in the poller whenever
// the socket's buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	c.wbuf, c.wn, c.werrno = p, 0, 0
	err := c.rc.Write(c.writeFn)
	n, errno := c.wn, c.werrno
	c.wbuf = nil
	c.wmu.Unlock()
	return n, c.failure("write", err, errno)
}

func (c *Conn) writeRaw(fd uintptr) bool {
	p := c.wbuf
	for c.wn < len(p) {
		n, e := sysWrite(fd, p[c.wn:])
		switch e {
		case 0:
			if n == 0 {
				c.werrno = syscall.EIO // never for a socket; must not spin
				return true
			}
			c.wn += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // wait in the poller until the socket takes more
		default:
			c.werrno = e
			return true
		}
	}
	return true
}

// failure is op's error as package net reports it, or nil: err from the
// poller (closed, deadline), else errno from the system call.
func (c *Conn) failure(op string, err error, errno syscall.Errno) error {
	switch {
	case err != nil:
		return c.opError(op, err)
	case errno != 0:
		return c.opError(op, os.NewSyscallError(op, errno))
	}
	return nil
}

// opError wraps err as package net does, so callers that look for timeouts
// (net.Error, os.ErrDeadlineExceeded) or closed connections (net.ErrClosed)
// find them.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Listener accepts connections wrapped with Wrap.
type Listener struct{ net.Listener }

func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}
