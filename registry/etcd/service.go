package etcd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/kitexsuite/suite/discoverycore"
)

// record is an instance as stored in etcd. Its first four fields are
// exactly kitex-contrib registry-etcd's instanceInfo, so either side reads
// the other's values; start_time and warmup are ours and ignored there.
type record struct {
	Network   string            `json:"network"`
	Address   string            `json:"address"`
	Weight    int               `json:"weight"`
	Tags      map[string]string `json:"tags"`
	StartTime *time.Time        `json:"start_time,omitempty"`
	WarmUp    string            `json:"warmup,omitempty"`
}

// ValueError says why a value under the prefix is not an instance. The
// resolver skips such values and logs each once.
type ValueError struct {
	Key    string
	Reason string
	Err    error
}

func (e *ValueError) Error() string {
	msg := fmt.Sprintf("kitexsuite/etcd: skipping %q: %s", e.Key, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ValueError) Unwrap() error { return e.Err }

// instanceKey is where an instance of service at addr lives under prefix.
func instanceKey(prefix, service, addr string) string {
	return prefix + "/" + service + "/" + addr
}

// serviceKeyPrefix is the key prefix of every instance of service.
func serviceKeyPrefix(prefix, service string) string { return prefix + "/" + service + "/" }

// encode renders r as the value to store.
func encode(r record) (string, error) {
	b, err := json.Marshal(r)
	return string(b), err
}

// decode parses the value stored at key into an instance, validating what
// Kitex will rely on: a host:port address and sane weight and warm-up.
func decode(key string, value []byte, maxSize int) (*discoverycore.Instance, error) {
	if len(value) > maxSize {
		return nil, &ValueError{Key: key, Reason: fmt.Sprintf("value of %d bytes exceeds the %d-byte limit", len(value), maxSize)}
	}
	var r record
	if err := json.Unmarshal(value, &r); err != nil {
		return nil, &ValueError{Key: key, Reason: "not an instance record", Err: err}
	}
	if r.Address == "" { // tolerate writers that rely on the key
		r.Address = key[strings.LastIndexByte(key, '/')+1:]
	}
	host, port, err := net.SplitHostPort(r.Address)
	if err != nil {
		return nil, &ValueError{Key: key, Reason: "bad address " + strconv.Quote(r.Address), Err: err}
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 || host == "" {
		return nil, &ValueError{Key: key, Reason: "bad address " + strconv.Quote(r.Address), Err: errors.New("need host:port with a port in 1-65535")}
	}
	if r.Network == "" {
		r.Network = "tcp"
	}
	if r.Weight < 0 {
		return nil, &ValueError{Key: key, Reason: fmt.Sprintf("negative weight %d", r.Weight)}
	}
	var warmUp time.Duration
	if r.WarmUp != "" {
		if warmUp, err = time.ParseDuration(r.WarmUp); err != nil || warmUp < 0 {
			return nil, &ValueError{Key: key, Reason: "bad warmup " + strconv.Quote(r.WarmUp), Err: err}
		}
	}
	var started time.Time
	if r.StartTime != nil {
		started = *r.StartTime
	}
	return discoverycore.NewInstance(r.Network, r.Address, r.Weight, r.Tags, started, warmUp), nil
}
