package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// oneMeaning refuses JSON that encoding/json would read in a way a
// reviewer's tool might not: an object key given twice (encoding/json keeps
// the last) or a key outside [a-z0-9_-] (encoding/json matches field names
// case-insensitively, Unicode folding included). Every key of a bundle or
// signatures file is of that form, so what officers read is what nodes
// enforce.
func oneMeaning(raw []byte) error {
	type frame struct {
		object  bool
		wantKey bool
		keys    map[string]bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, &frame{object: true, wantKey: true, keys: map[string]bool{}})
			case '[':
				stack = append(stack, &frame{})
			default: // '}' or ']'
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return nil // the first value is whole; the decoder reports what follows
				}
				if stack[len(stack)-1].object {
					stack[len(stack)-1].wantKey = true
				}
			}
			continue
		}
		if top != nil && top.object && top.wantKey {
			k, _ := tok.(string)
			if !validKey(k) {
				return fmt.Errorf("key %q: keys are written in a-z, 0-9, _ and -", k)
			}
			if top.keys[k] {
				return fmt.Errorf("key %q appears twice in one object", k)
			}
			top.keys[k], top.wantKey = true, false
			continue
		}
		if top != nil && top.object {
			top.wantKey = true
		}
	}
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
