package bench

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// smtpSink is the flows benchmark's mail relay: an SMTP server on
// 127.0.0.1 that accepts every message (EHLO, AUTH PLAIN with any
// credentials, MAIL, RCPT, DATA, RSET, NOOP, QUIT, with PIPELINING), reads
// each message's header for its Message-ID and discards the body, and
// counts messages by Message-ID, like a relay's front door.
//
// It is written for the bench rather than built on emersion/go-smtp
// (which the tests' notifytest server uses) because it shares the two cores
// with the worker it measures: go-smtp unstuffs DATA a byte at a time and
// answers every command with its own write, which took a fifth of the
// bench process's CPU. This one reads DATA a line at a time and answers a
// pipelined group of commands with one write. A real relay is not on the
// app's cores at all.
type smtpSink struct {
	addr  string
	ln    net.Listener
	done  chan struct{}
	conns atomic.Int64
	wg    sync.WaitGroup

	mu       sync.Mutex
	open     map[net.Conn]struct{}
	closed   bool
	seen     map[string]int    // Message-ID (no angle brackets) → times accepted
	rcpt     map[string]string // Message-ID → first envelope recipient
	accepted int
	firstAt  time.Time
	lastAt   time.Time // when the expected count of distinct ids was reached
	target   int
	reached  chan struct{}
}

// sinkMaxMessage bounds one message, as a relay's SIZE does.
const sinkMaxMessage = 10 << 20

func startSMTPSink() (*smtpSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtp sink: listen: %w", err)
	}
	s := &smtpSink{ln: l, addr: l.Addr().String(), done: make(chan struct{}), open: map[net.Conn]struct{}{},
		seen: map[string]int{}, rcpt: map[string]string{}, reached: make(chan struct{})}
	go s.accept()
	return s, nil
}

func (s *smtpSink) accept() {
	defer close(s.done)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.open[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.conns.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
		}()
	}
}

// close stops listening, closes every connection and waits for them.
func (s *smtpSink) close() {
	_ = s.ln.Close()
	<-s.done
	s.mu.Lock()
	s.closed = true
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// serve runs one SMTP session. Replies are buffered and written when no
// further command is waiting in the read buffer, so a pipelined
// MAIL/RCPT/DATA gets one write.
func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 4<<10)
	say := func(lines ...string) {
		for _, l := range lines {
			bw.WriteString(l)
			bw.WriteString("\r\n")
		}
	}
	say("220 sink.bench ESMTP")
	var to []string
	mail := false
	for {
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				say("500 5.5.2 line too long")
				continue
			}
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			to, mail = nil, false
			say("250-sink.bench", "250-PIPELINING", "250-8BITMIME", fmt.Sprintf("250-SIZE %d", sinkMaxMessage), "250 AUTH PLAIN")
		case "HELO":
			to, mail = nil, false
			say("250 sink.bench")
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				say("504 5.5.4 only PLAIN")
				continue
			}
			if resp == "" {
				say("334 ")
				if bw.Flush() != nil {
					return
				}
				if resp, err = readLine(br); err != nil {
					return
				}
			}
			if _, err := base64.StdEncoding.DecodeString(resp); err != nil {
				say("501 5.5.2 bad base64")
				continue
			}
			say("235 2.7.0 accepted")
		case "MAIL":
			to, mail = nil, true
			say("250 2.1.0 ok")
		case "RCPT":
			if !mail {
				say("503 5.5.1 MAIL first")
				continue
			}
			_, addr, _ := strings.Cut(arg, ":")
			addr, _, _ = strings.Cut(strings.TrimSpace(addr), " ")
			to = append(to, strings.Trim(addr, "<>"))
			say("250 2.1.5 ok")
		case "DATA":
			if len(to) == 0 {
				say("503 5.5.1 RCPT first")
				continue
			}
			say("354 end with <CRLF>.<CRLF>")
			if bw.Flush() != nil {
				return
			}
			id, err := readMessage(br)
			switch {
			case errors.Is(err, errNoMessageID):
				say("554 5.6.0 no Message-ID")
			case errors.Is(err, errTooBig):
				say("552 5.3.4 message too big")
			case err != nil:
				return
			default:
				s.record(id, to[0])
				say("250 2.0.0 ok " + id)
			}
			to, mail = nil, false
		case "RSET":
			to, mail = nil, false
			say("250 2.0.0 ok")
		case "NOOP":
			say("250 2.0.0 ok")
		case "QUIT":
			say("221 2.0.0 bye")
			_ = bw.Flush()
			return
		default:
			say("502 5.5.1 unknown command")
		}
	}
}

var (
	errLineTooLong = errors.New("line too long")
	errNoMessageID = errors.New("no Message-ID")
	errTooBig      = errors.New("message too big")
)

// readLine reads one command line without its CRLF.
func readLine(br *bufio.Reader) (string, error) {
	b, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) { // skip the rest of it
			_, err = br.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b, "\r\n")), nil
}

// readMessage reads DATA up to the lone "." line and returns the
// Message-ID from the header (without angle brackets). The body is read a
// line at a time and dropped; it never needs unstuffing since nothing of
// it is kept.
func readMessage(br *bufio.Reader) (string, error) {
	var (
		id     string
		header = true
		size   int
		tooBig bool
	)
	for {
		b, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) { // a long line: count it, keep reading
			size += len(b)
			b, err = br.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		size += len(b)
		line := bytes.TrimRight(b, "\r\n")
		if len(line) == 1 && line[0] == '.' {
			break
		}
		if size > sinkMaxMessage {
			tooBig = true
		}
		if !header {
			continue
		}
		if len(line) == 0 {
			header = false
			continue
		}
		if name, value, ok := bytes.Cut(line, []byte(":")); ok && id == "" && bytes.EqualFold(name, []byte("Message-ID")) {
			id = strings.Trim(string(bytes.TrimSpace(value)), "<>")
		}
	}
	switch {
	case tooBig:
		return "", errTooBig
	case id == "":
		return "", errNoMessageID
	}
	return id, nil
}

// expect arms reached for n distinct messages in all, and restarts the
// clock of the first one (progress reports the first arrival since).
func (s *smtpSink) expect(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.target = n
	s.firstAt = time.Time{}
	if n == 0 || len(s.seen) >= n {
		s.lastAt = time.Now()
		close(s.reached)
		s.target = 0
	}
}

func (s *smtpSink) progress() (distinct int, first, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen), s.firstAt, s.lastAt
}

func (s *smtpSink) snapshot() (seen map[string]int, rcpt map[string]string, accepted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen, rcpt = make(map[string]int, len(s.seen)), make(map[string]string, len(s.rcpt))
	for k, v := range s.seen {
		seen[k] = v
	}
	for k, v := range s.rcpt {
		rcpt[k] = v
	}
	return seen, rcpt, s.accepted
}

func (s *smtpSink) record(id, to string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted++
	if s.firstAt.IsZero() {
		s.firstAt = now
	}
	s.seen[id]++
	if _, ok := s.rcpt[id]; !ok {
		s.rcpt[id] = to
	}
	if s.target > 0 && len(s.seen) >= s.target {
		s.lastAt = now
		close(s.reached)
		s.target = 0
	}
}
