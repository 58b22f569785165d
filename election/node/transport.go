package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// Peer transport: each node POSTs batches of protocol payloads to
// /peer?from=<its id> on the peer's listener. One sender goroutine per peer
// drains a bounded queue, so messages to one peer stay in order (ZAB relies
// on FIFO links) and a slow or dead peer delays nobody else. The body is a
// sequence of frames, each a uint32 little-endian length then the payload.
//
// The protocols tolerate message loss, so the transport drops rather than
// waits: when a peer's queue is full, and for a short back-off after a send
// to it failed, so that a dead peer costs a refused connection now and then
// and a healed partition is not flooded with stale messages.

const (
	// MaxPeerBody bounds a /peer request body.
	MaxPeerBody = 8 << 20
	// maxBatchBytes keeps one outgoing batch well under MaxPeerBody.
	maxBatchBytes = 1 << 20
	// maxBatchMsgs bounds the messages folded into one POST.
	maxBatchMsgs = 256
	// downBackoff is how long a peer whose last send failed is skipped.
	downBackoff = 100 * time.Millisecond
	// peerTimeout bounds one send, connection included.
	peerTimeout = time.Second
	// dialTimeout makes sends to an unreachable peer fail fast.
	dialTimeout = 250 * time.Millisecond
)

func newTransport() *http.Transport {
	return &http.Transport{
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: 15 * time.Second,
		}).DialContext,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 2 * time.Second,
		DisableCompression:    true,
		// Proxies from the environment have no business between nodes.
		Proxy: nil,
	}
}

type peerSender struct {
	n         *Node
	id        string
	url       string
	q         chan []byte
	client    *http.Client
	downUntil atomic.Int64 // unix nanos (real time)
	failing   atomic.Bool  // for logging transitions only
}

func newPeerSender(n *Node, p Peer, tr *http.Transport) *peerSender {
	return &peerSender{
		n:      n,
		id:     p.ID,
		url:    "http://" + p.Addr + "/peer?from=" + url.QueryEscape(n.id),
		q:      make(chan []byte, n.cfg.PeerQueue),
		client: &http.Client{Transport: tr, Timeout: peerTimeout},
	}
}

// enqueue never blocks: the loop must not wait on the network.
func (p *peerSender) enqueue(payload []byte) {
	if time.Now().UnixNano() < p.downUntil.Load() {
		p.n.stats.DroppedDown.Add(1)
		return
	}
	select {
	case p.q <- payload:
	default:
		p.n.stats.DroppedQueue.Add(1)
	}
}

func (p *peerSender) run(ctx context.Context) {
	var body []byte
	for {
		var first []byte
		select {
		case <-ctx.Done():
			return
		case first = <-p.q:
		}
		if time.Now().UnixNano() < p.downUntil.Load() {
			p.n.stats.DroppedDown.Add(1)
			continue
		}
		body = appendFrame(body[:0], first)
		count := 1
	fill:
		for count < maxBatchMsgs && len(body) < maxBatchBytes {
			select {
			case m := <-p.q:
				body = appendFrame(body, m)
				count++
			default:
				break fill
			}
		}
		if err := p.post(ctx, body); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.downUntil.Store(time.Now().Add(downBackoff).UnixNano())
			p.n.stats.DroppedDown.Add(uint64(count))
			if !p.failing.Swap(true) {
				p.n.log.Info("peer unreachable, dropping messages to it", "peer", p.id, "err", err)
			}
			continue
		}
		p.n.stats.SentBatches.Add(1)
		if p.failing.Swap(false) {
			p.n.log.Info("peer reachable again", "peer", p.id)
		}
		if cap(body) > 2*maxBatchBytes {
			body = nil
		}
	}
}

func (p *peerSender) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	// Drain a little so the connection can be reused, but never much.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("peer answered %s", resp.Status)
	}
	return nil
}

func appendFrame(buf, payload []byte) []byte {
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(payload)))
	return append(buf, payload...)
}

var errBadFrame = errors.New("malformed peer batch: a frame runs past the end of the body")

// splitFrames parses a /peer body into payloads.
func splitFrames(body []byte) ([][]byte, error) {
	var out [][]byte
	for len(body) > 0 {
		if len(body) < 4 {
			return nil, errBadFrame
		}
		n := binary.LittleEndian.Uint32(body)
		body = body[4:]
		if uint64(n) > uint64(len(body)) {
			return nil, errBadFrame
		}
		out = append(out, body[:n:n])
		body = body[n:]
	}
	return out, nil
}
