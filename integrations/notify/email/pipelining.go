package email

import (
	"errors"
	"fmt"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// SMTP steps a send can fail at, in order. A failure before stepMessage
// sent nothing of the message, so trying again cannot deliver it twice.
const (
	stepMail    = "MAIL FROM"
	stepRcpt    = "RCPT TO"
	stepData    = "DATA"
	stepMessage = "message"
)

// stepError is a failed pipelined send: the step, and the server's reply
// (a *textproto.Error) or the network error.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return "smtp " + e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// sendPipelined delivers msg in two round trips to a relay that announces
// PIPELINING (RFC 2920): MAIL FROM, RCPT TO and DATA go out in one write
// and their replies are read together, then the message and its final dot.
// go-mail waits for each command's reply in turn, four round trips a
// message, and every round trip is a write and a read on both sides.
//
// The commands and their parameters are the ones go-mail sends. It returns
// the server's reply to the message, or a *stepError.
func (c *conn) sendPipelined(msg *gomail.Msg) (string, error) {
	from, err := msg.GetSender(false)
	if err != nil {
		return "", &stepError{step: stepMail, err: err}
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return "", &stepError{step: stepRcpt, err: err}
	}
	for _, a := range append([]string{from}, rcpts...) {
		if strings.ContainsAny(a, "\r\n") {
			return "", &stepError{step: stepMail, err: errors.New("an address contains CR or LF")}
		}
	}
	if err := c.smtp.UpdateDeadline(c.timeout); err != nil {
		return "", &stepError{step: stepMail, err: err}
	}
	var params string
	if ok, _ := c.smtp.Extension("8BITMIME"); ok {
		params += " BODY=8BITMIME"
	}
	if ok, _ := c.smtp.Extension("SMTPUTF8"); ok {
		params += " SMTPUTF8"
	}

	text := c.smtp.Text
	fmt.Fprintf(text.W, "MAIL FROM:%s%s\r\n", from, params)
	for _, r := range rcpts {
		fmt.Fprintf(text.W, "RCPT TO:%s\r\n", r)
	}
	text.W.WriteString("DATA\r\n")
	if err := text.W.Flush(); err != nil {
		return "", &stepError{step: stepMail, err: err}
	}

	// Every command gets its reply, whatever the ones before said; the
	// first refusal is the answer.
	var failed error
	if _, _, err := text.ReadResponse(250); err != nil {
		failed = &stepError{step: stepMail, err: err}
	}
	for range rcpts {
		if _, _, err := text.ReadResponse(25); err != nil && failed == nil {
			failed = &stepError{step: stepRcpt, err: err}
		}
	}
	_, _, err = text.ReadResponse(354)
	switch {
	case err != nil && failed == nil:
		return "", &stepError{step: stepData, err: err}
	case err != nil:
		// The transaction failed before DATA: clear it, as go-mail does, so
		// the connection can carry the next message.
		if rerr := c.smtp.Reset(); rerr != nil {
			return "", errors.Join(failed, rerr)
		}
		return "", failed
	case failed != nil:
		// A relay that takes DATA after refusing the sender or every
		// recipient: end the (empty) message; the connection is dropped.
		if _, werr := text.W.WriteString(".\r\n"); werr == nil {
			_ = text.W.Flush()
		}
		return "", errors.Join(failed, errUnknownState)
	}

	dw := text.DotWriter()
	if _, err := msg.WriteTo(dw); err != nil {
		return "", &stepError{step: stepMessage, err: err}
	}
	if err := dw.Close(); err != nil {
		return "", &stepError{step: stepMessage, err: err}
	}
	_, resp, err := text.ReadResponse(250)
	if err != nil {
		return "", &stepError{step: stepMessage, err: err}
	}
	return resp, nil
}

// errUnknownState marks a connection whose transaction state we cannot
// know: the caller drops it.
var errUnknownState = errors.New("smtp: connection left in an unknown state")
