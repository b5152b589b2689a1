package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"
)

// walkPages is the part of check 1 that makes every later read of the
// file safe: starting at the root bucket's page of meta m, it reads every
// page in use from the file (never from bbolt's memory map) and checks
// what bbolt trusts without checking: that each page says it is itself,
// is a branch or leaf page where one belongs, lies below the high-water
// mark with its overflow pages, holds its elements, keys and values
// within itself, points only at pages in use, and is reached once (no
// cycles); inline buckets likewise within their values; and the freelist
// page within itself. bbolt's own check (Tx.Check) and every cursor read
// follow these offsets through the map unchecked: one wrong count or
// offset in a page faults the process (SIGSEGV or SIGBUS) in a goroutine
// no recover reaches.
func walkPages(f *os.File, path string, m meta, deadline time.Time) error {
	w := &pageWalker{f: f, ps: uint64(m.pageSize), hwm: m.hwm, seen: make(map[uint64]bool), deadline: deadline}
	if m.freelist != noFreelist {
		w.freelist(m.freelist)
	}
	w.walk(m.root, "the root bucket")
	if w.timedOut {
		return fmt.Errorf("%w: walking the pages of %s", ErrCheckTimeout, path)
	}
	if len(w.problems) > 0 {
		return damaged(path, w.problems...)
	}
	return nil
}

// Page and element layouts (bbolt internal/common, in memory order).
const (
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	elementSize      = 16 // branch: pos, ksize uint32, pgid uint64; leaf: flags, pos, ksize, vsize uint32
	bucketHeaderSize = 16 // root pgid, sequence uint64; an inline bucket's page follows when root is 0
)

type pageWalker struct {
	f        *os.File
	ps, hwm  uint64
	seen     map[uint64]bool
	problems []string
	deadline time.Time
	pages    int
	timedOut bool
}

func (w *pageWalker) bad(format string, a ...any) {
	w.problems = append(w.problems, fmt.Sprintf(format, a...))
}

// stop reports whether to stop: enough problems to refuse the file, or
// the deadline passed.
func (w *pageWalker) stop() bool {
	if w.pages++; w.pages%256 == 0 && !w.deadline.IsZero() && time.Now().After(w.deadline) {
		w.timedOut = true
	}
	return w.timedOut || len(w.problems) >= maxDamageListed
}

// read returns page id and its overflow pages, after checking its header:
// nil if it is not a page in use that says it is id.
func (w *pageWalker) read(id uint64, from string) []byte {
	if id < 2 || id >= w.hwm {
		w.bad("page %d (%s): outside the pages in use (2 to %d)", id, from, w.hwm-1)
		return nil
	}
	if w.seen[id] {
		w.bad("page %d (%s): reached a second time (a cycle, or two parents)", id, from)
		return nil
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(hdr, int64(id*w.ps)); err != nil {
		w.bad("page %d (%s): unreadable: %v", id, from, err)
		return nil
	}
	le := binary.NativeEndian
	if got := le.Uint64(hdr); got != id {
		w.bad("page %d (%s): says it is page %d", id, from, got)
		return nil
	}
	overflow := uint64(le.Uint32(hdr[12:]))
	if id+overflow >= w.hwm {
		w.bad("page %d (%s): its %d overflow pages run past the pages in use (2 to %d)", id, from, overflow, w.hwm-1)
		return nil
	}
	for i := id; i <= id+overflow; i++ {
		w.seen[i] = true
	}
	b := make([]byte, (overflow+1)*w.ps)
	if _, err := w.f.ReadAt(b, int64(id*w.ps)); err != nil {
		w.bad("page %d (%s): unreadable: %v", id, from, err)
		return nil
	}
	return b
}

// walk checks the branch or leaf page id, reached from from, and every
// page below it.
func (w *pageWalker) walk(id uint64, from string) {
	if w.stop() {
		return
	}
	b := w.read(id, from)
	if b == nil {
		return
	}
	switch flags := binary.NativeEndian.Uint16(b[8:]); flags {
	case branchPageFlag:
		for i, child := range w.branch(b, id) {
			w.walk(child, fmt.Sprintf("child %d of branch page %d", i, id))
		}
	case leafPageFlag:
		w.leaf(b, fmt.Sprintf("leaf page %d", id))
	default:
		w.bad("page %d (%s): %s where a branch or leaf page belongs", id, from, pageType(flags))
	}
}

// branch checks branch page id's elements and returns its children.
func (w *pageWalker) branch(b []byte, id uint64) []uint64 {
	le := binary.NativeEndian
	count := uint64(le.Uint16(b[10:]))
	if count == 0 || pageHeaderSize+count*elementSize > uint64(len(b)) {
		w.bad("branch page %d: %d elements do not fit in it", id, count)
		return nil
	}
	children := make([]uint64, count)
	for i := range count {
		e := pageHeaderSize + i*elementSize
		pos, ksize := uint64(le.Uint32(b[e:])), uint64(le.Uint32(b[e+4:]))
		if e+pos+ksize > uint64(len(b)) {
			w.bad("branch page %d: element %d's key runs past the page", id, i)
			return nil
		}
		children[i] = le.Uint64(b[e+8:])
	}
	return children
}

// leaf checks the elements of the leaf page b (a page, or an inline
// bucket's page within its value) and walks the buckets it holds.
func (w *pageWalker) leaf(b []byte, where string) {
	le := binary.NativeEndian
	count := uint64(le.Uint16(b[10:]))
	if pageHeaderSize+count*elementSize > uint64(len(b)) {
		w.bad("%s: %d elements do not fit in it", where, count)
		return
	}
	for i := range count {
		e := pageHeaderSize + i*elementSize
		flags, pos := le.Uint32(b[e:]), uint64(le.Uint32(b[e+4:]))
		ksize, vsize := uint64(le.Uint32(b[e+8:])), uint64(le.Uint32(b[e+12:]))
		end := e + pos + ksize + vsize
		if end > uint64(len(b)) || end < e {
			w.bad("%s: element %d's key and value run past the page", where, i)
			return
		}
		if flags&bucketLeafFlag == 0 {
			continue
		}
		key, v := b[e+pos:e+pos+ksize], b[e+pos+ksize:end]
		if len(v) < bucketHeaderSize {
			w.bad("%s: bucket %q: a bucket header of %d bytes", where, key, len(v))
			continue
		}
		if root := le.Uint64(v); root != 0 {
			w.walk(root, fmt.Sprintf("bucket %q in %s", key, where))
			continue
		}
		inline := v[bucketHeaderSize:]
		if len(inline) < pageHeaderSize || le.Uint16(inline[8:]) != leafPageFlag {
			w.bad("%s: inline bucket %q: not a leaf page", where, key)
			continue
		}
		w.leaf(inline, fmt.Sprintf("inline bucket %q in %s", key, where))
	}
}

// freelist checks the freelist page id: its page ids fit in it and are
// pages in use.
func (w *pageWalker) freelist(id uint64) {
	b := w.read(id, "the freelist")
	if b == nil {
		return
	}
	le := binary.NativeEndian
	if flags := le.Uint16(b[8:]); flags != freelistPageFlag {
		w.bad("page %d (the freelist): %s where the freelist page belongs", id, pageType(flags))
		return
	}
	start, count := uint64(pageHeaderSize), uint64(le.Uint16(b[10:]))
	if count == 0xFFFF { // the count is the first element
		count, start = le.Uint64(b[pageHeaderSize:]), pageHeaderSize+8
	}
	if count > (uint64(len(b))-start)/8 {
		w.bad("page %d (the freelist): %d page ids do not fit in it", id, count)
		return
	}
	for i := range count {
		if p := le.Uint64(b[start+i*8:]); p < 2 || p >= w.hwm {
			w.bad("page %d (the freelist): lists page %d, outside the pages in use (2 to %d)", id, p, w.hwm-1)
			return
		}
	}
}

func pageType(flags uint16) string {
	switch flags {
	case branchPageFlag:
		return "a branch page"
	case leafPageFlag:
		return "a leaf page"
	case metaPageFlag:
		return "a meta page"
	case freelistPageFlag:
		return "a freelist page"
	}
	return fmt.Sprintf("a page of no known type (flags %#x)", flags)
}
