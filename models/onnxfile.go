package models

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// modelDigest returns the sha256 (hex) identifying an ONNX model's contents. For a model kept
// in one file it is that file's sha256. Models over 2 GB, and some exporters' output, keep
// their weights in external data files next to the graph; then the digest covers the graph
// file and every external file it names, so that new weights under the same graph give a new
// fingerprint (vectors from different weights must never be compared).
func modelDigest(path string) (string, error) {
	graphSum, err := fileSHA256(path)
	if err != nil {
		return "", err
	}
	locations, err := externalDataFiles(path)
	if err != nil {
		return "", fmt.Errorf("models: %s: reading its external data references: %w", path, err)
	}
	if len(locations) == 0 {
		return graphSum, nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "graph %s\n", graphSum)
	for _, loc := range locations {
		sum, err := fileSHA256(filepath.Join(filepath.Dir(path), loc))
		if err != nil {
			return "", fmt.Errorf("models: %s: external data: %w", path, err)
		}
		fmt.Fprintf(h, "external %q %s\n", loc, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("models: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("models: reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// externalDataFiles lists (sorted, unique) the "location" of every graph initializer stored as
// external data. It reads the protobuf wire format directly, streaming: only ModelProto.graph
// (field 7), GraphProto.initializer (5) and TensorProto.external_data (13, key 1 / value 2)
// are decoded; everything else, raw weights included, is skipped without being held in
// memory.
func externalDataFiles(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r := &pbReader{r: bufio.NewReaderSize(f, 64<<10)}
	var locs []string
	err = r.message(st.Size(), func(field, wire int, end int64) error {
		if field != 7 || wire != 2 { // ModelProto.graph
			return r.skip(wire, end)
		}
		return r.message(end, func(field, wire int, end int64) error {
			if field != 5 || wire != 2 { // GraphProto.initializer
				return r.skip(wire, end)
			}
			return r.message(end, func(field, wire int, end int64) error {
				if field != 13 || wire != 2 { // TensorProto.external_data
					return r.skip(wire, end)
				}
				var key, value string
				err := r.message(end, func(field, wire int, end int64) error {
					if wire != 2 || (field != 1 && field != 2) {
						return r.skip(wire, end)
					}
					s, err := r.bytes(end)
					if field == 1 {
						key = string(s)
					} else {
						value = string(s)
					}
					return err
				})
				if key == "location" && value != "" {
					locs = append(locs, value)
				}
				return err
			})
		})
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(locs)
	return slices.Compact(locs), nil
}

var errBadProtobuf = errors.New("not a valid ONNX (protobuf) file")

// pbReader reads the protobuf wire format from a stream, tracking its position so that
// nested messages know where they end.
type pbReader struct {
	r   *bufio.Reader
	pos int64
}

func (p *pbReader) ReadByte() (byte, error) {
	b, err := p.r.ReadByte()
	if err == nil {
		p.pos++
	}
	return b, err
}

func (p *pbReader) varint() (uint64, error) {
	v, err := binary.ReadUvarint(p)
	if err != nil {
		return 0, errBadProtobuf
	}
	return v, nil
}

// message calls fn for each field until end. For length-delimited fields, fn's end is the
// end of the field's contents and fn must consume exactly up to it (r.skip does).
func (p *pbReader) message(end int64, fn func(field, wire int, end int64) error) error {
	for p.pos < end {
		tag, err := p.varint()
		if err != nil {
			return err
		}
		field, wire := int(tag>>3), int(tag&7)
		fieldEnd := end
		if wire == 2 {
			n, err := p.varint()
			if err != nil {
				return err
			}
			if int64(n) > end-p.pos {
				return errBadProtobuf
			}
			fieldEnd = p.pos + int64(n)
		}
		if err := fn(field, wire, fieldEnd); err != nil {
			return err
		}
	}
	if p.pos != end {
		return errBadProtobuf
	}
	return nil
}

// skip consumes a field's value; for wire type 2 its length has been read and end is where
// its contents end.
func (p *pbReader) skip(wire int, end int64) error {
	var n int64
	switch wire {
	case 0:
		_, err := p.varint()
		return err
	case 1:
		n = 8
	case 5:
		n = 4
	case 2:
		n = end - p.pos
	default: // groups (3, 4) are not used by ONNX
		return errBadProtobuf
	}
	d, err := p.r.Discard(int(n))
	p.pos += int64(d)
	if err != nil {
		return errBadProtobuf
	}
	return nil
}

// bytes reads a length-delimited value (a short string: external data keys and values).
func (p *pbReader) bytes(end int64) ([]byte, error) {
	n := end - p.pos
	if n > 1<<20 {
		return nil, errBadProtobuf
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(p.r, b); err != nil {
		return nil, errBadProtobuf
	}
	p.pos = end
	return b, nil
}
