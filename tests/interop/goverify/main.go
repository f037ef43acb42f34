// Command goverify checks signed checkpoints and Merkle proofs with the Go
// module authors' implementations, golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog, so that the test suite can compare the
// project's output against code the project did not write.
//
// It reads one JSON request on stdin:
//
//	{"verifier_key": "<name>+<hex8>+<base64(0x01||pub)>",
//	 "note": "<signed note text>",
//	 "inclusion":   [{"index": 3, "tree_size": 7, "leaf_hash": "<b64>", "proof": ["<b64>", ...]}],
//	 "consistency": [{"size1": 3, "root1": "<b64>", "size2": 7, "root2": "<b64>", "proof": [...]}],
//	 "tree": {"leaf_hashes": ["<b64>", ...]}}
//
// Every top-level field is optional; checks whose input is absent are skipped.
// An inclusion entry is checked against the checkpoint's root; it may carry
// its own "root" (base64) instead, and "tree_size" defaults to the
// checkpoint's size. A consistency entry may leave out "size2"/"root2", which
// then default to the checkpoint's.
//
// It writes one JSON object on stdout:
//
//	{"note_ok": bool, "note_error": str, "origin": str, "size": int, "root": "<b64>",
//	 "text": str, "signers": [...], "unverified_signers": [...],
//	 "inclusion": [{"ok": bool, "error": str}], "consistency": [...],
//	 "tree_root": "<b64>", "tree_error": str}
//
// and exits 0: a failed check is a result, not an error. It exits 2 only
// when the request itself cannot be read (bad JSON, unknown fields).
//
// note_ok means that note.Open verified a signature by verifier_key AND the
// verified text is a well-formed C2SP tlog-checkpoint body. When Open
// succeeds but the body is malformed, "signers" and "text" are still filled
// in and note_error starts with "checkpoint: ".
//
// On the proof formats: tlog.RecordProof is an RFC 6962 section 2.1.1 audit
// path. In tlog.go, leafProof splits [lo, hi) at k = maxpow2(hi-lo), the
// largest power of two strictly below hi-lo (k < n <= 2k as in the RFC),
// recurses into the side holding the leaf and appends the hash of the other
// side after the recursive result, i.e. PATH(m, D[n]) = PATH(m, D[0:k]) :
// MTH(D[k:n]) (or the mirror case): the sibling nearest the leaf comes first
// and the root's other child last. runRecordProof consumes the proof in that
// order and rejects proofs with missing or extra hashes. Likewise
// tlog.TreeProof is the RFC 6962 section 2.1.2 consistency proof: treeProof
// emits nothing when the old tree is exactly a left-most subtree (the RFC's
// b == true case, lo == 0 in tlog) and that subtree's hash otherwise, with
// the same k split and the same append order as SUBPROOF. tlog.RecordHash
// and tlog.NodeHash are the RFC's SHA-256(0x00 || d) and
// SHA-256(0x01 || l || r).
//
// Where tlog differs from RFC 6962: TreeHash(0, r) is the all-zero hash,
// whereas the RFC's MTH({}) is SHA-256 of the empty string; CheckTree
// rejects an old size of 0 as invalid input (the RFC defines no proof for
// it), and accepts n == t only with an empty proof and equal hashes.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusionReq struct {
	Index    *int64   `json:"index"`
	TreeSize *int64   `json:"tree_size"`
	LeafHash *string  `json:"leaf_hash"`
	Root     *string  `json:"root"`
	Proof    []string `json:"proof"`
}

type consistencyReq struct {
	Size1 *int64   `json:"size1"`
	Root1 *string  `json:"root1"`
	Size2 *int64   `json:"size2"`
	Root2 *string  `json:"root2"`
	Proof []string `json:"proof"`
}

type treeReq struct {
	LeafHashes []string `json:"leaf_hashes"`
}

type request struct {
	VerifierKey *string          `json:"verifier_key"`
	Note        *string          `json:"note"`
	Inclusion   []inclusionReq   `json:"inclusion"`
	Consistency []consistencyReq `json:"consistency"`
	Tree        *treeReq         `json:"tree"`
}

type checkResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

type response struct {
	NoteOK            bool          `json:"note_ok"`
	NoteError         string        `json:"note_error"`
	Origin            string        `json:"origin"`
	Size              int64         `json:"size"`
	Root              string        `json:"root"`
	Text              string        `json:"text"`
	Signers           []string      `json:"signers"`
	UnverifiedSigners []string      `json:"unverified_signers"`
	Inclusion         []checkResult `json:"inclusion"`
	Consistency       []checkResult `json:"consistency"`
	TreeRoot          string        `json:"tree_root"`
	TreeError         string        `json:"tree_error"`
}

// checkpoint is a parsed C2SP tlog-checkpoint body.
type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

// parseHash decodes a standard, padded, canonical base64 encoding of exactly
// 32 bytes.
func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return h, fmt.Errorf("hash %q is not base64: %v", s, err)
	}
	if len(b) != tlog.HashSize {
		return h, fmt.Errorf("hash %q is %d bytes, want %d", s, len(b), tlog.HashSize)
	}
	if base64.StdEncoding.EncodeToString(b) != s {
		return h, fmt.Errorf("hash %q is not canonical base64", s)
	}
	copy(h[:], b)
	return h, nil
}

func parseProof(items []string) ([]tlog.Hash, error) {
	proof := make([]tlog.Hash, 0, len(items))
	for i, s := range items {
		h, err := parseHash(s)
		if err != nil {
			return nil, fmt.Errorf("proof[%d]: %v", i, err)
		}
		proof = append(proof, h)
	}
	return proof, nil
}

// parseSize parses the ASCII decimal tree size of a checkpoint: digits only,
// no sign, no leading zero unless the size is 0, and within int64.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty tree size line")
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("tree size %q is not ASCII decimal", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("tree size %q has a leading zero", s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("tree size %q out of range", s)
	}
	return n, nil
}

// parseCheckpoint parses a note text as a C2SP tlog-checkpoint body: at
// least three non-empty newline-terminated lines (origin, tree size, root
// hash), then optional non-empty extension lines.
func parseCheckpoint(text string) (checkpoint, error) {
	var c checkpoint
	if !strings.HasSuffix(text, "\n") {
		return c, errors.New("text does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("%d lines, want at least 3", len(lines))
	}
	for i, line := range lines {
		if line == "" {
			return c, fmt.Errorf("line %d is empty", i+1)
		}
	}
	c.origin = lines[0]
	n, err := parseSize(lines[1])
	if err != nil {
		return c, err
	}
	c.size = n
	root, err := parseHash(lines[2])
	if err != nil {
		return c, fmt.Errorf("root: %v", err)
	}
	c.root = root
	return c, nil
}

// openNote verifies msg with the single verifier key and parses its text.
func openNote(resp *response, vkey, msg string) (*checkpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %v", err)
	}
	n, err := note.Open([]byte(msg), note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) && unverified.Note != nil {
			for _, s := range unverified.Note.UnverifiedSigs {
				resp.UnverifiedSigners = append(resp.UnverifiedSigners, s.Name)
			}
		}
		return nil, err
	}
	resp.Text = n.Text
	for _, s := range n.Sigs {
		resp.Signers = append(resp.Signers, s.Name)
	}
	for _, s := range n.UnverifiedSigs {
		resp.UnverifiedSigners = append(resp.UnverifiedSigners, s.Name)
	}
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %v", err)
	}
	return &c, nil
}

// guard turns a panic inside tlog into a failed check rather than a crash.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tlog panicked: %v", r)
		}
	}()
	return f()
}

func result(err error) checkResult {
	if err != nil {
		return checkResult{OK: false, Error: err.Error()}
	}
	return checkResult{OK: true}
}

func checkInclusion(req inclusionReq, cp *checkpoint) error {
	if req.Index == nil {
		return errors.New("missing index")
	}
	if req.LeafHash == nil {
		return errors.New("missing leaf_hash")
	}
	leaf, err := parseHash(*req.LeafHash)
	if err != nil {
		return fmt.Errorf("leaf_hash: %v", err)
	}
	var root tlog.Hash
	var size int64
	switch {
	case req.Root != nil:
		if req.TreeSize == nil {
			return errors.New("missing tree_size")
		}
		if root, err = parseHash(*req.Root); err != nil {
			return fmt.Errorf("root: %v", err)
		}
		size = *req.TreeSize
	case cp != nil:
		root, size = cp.root, cp.size
		if req.TreeSize != nil && *req.TreeSize != cp.size {
			return fmt.Errorf("tree_size %d differs from the checkpoint's size %d", *req.TreeSize, cp.size)
		}
	default:
		return errors.New("no verified checkpoint and no root given")
	}
	proof, err := parseProof(req.Proof)
	if err != nil {
		return err
	}
	return guard(func() error {
		return tlog.CheckRecord(tlog.RecordProof(proof), size, root, *req.Index, leaf)
	})
}

func checkConsistency(req consistencyReq, cp *checkpoint) error {
	if req.Size1 == nil || req.Root1 == nil {
		return errors.New("missing size1 or root1")
	}
	root1, err := parseHash(*req.Root1)
	if err != nil {
		return fmt.Errorf("root1: %v", err)
	}
	var root2 tlog.Hash
	var size2 int64
	switch {
	case req.Size2 != nil && req.Root2 != nil:
		if root2, err = parseHash(*req.Root2); err != nil {
			return fmt.Errorf("root2: %v", err)
		}
		size2 = *req.Size2
	case req.Size2 == nil && req.Root2 == nil && cp != nil:
		root2, size2 = cp.root, cp.size
	case req.Size2 == nil && req.Root2 == nil:
		return errors.New("no verified checkpoint and no size2/root2 given")
	default:
		return errors.New("size2 and root2 must be given together")
	}
	proof, err := parseProof(req.Proof)
	if err != nil {
		return err
	}
	return guard(func() error {
		return tlog.CheckTree(tlog.TreeProof(proof), size2, root2, *req.Size1, root1)
	})
}

// treeRoot computes tlog.TreeHash over the given record (leaf) hashes by
// writing them into tlog's stored-hash layout, as a log server would.
func treeRoot(req treeReq) (string, error) {
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("stored hash index %d out of range", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, s := range req.LeafHashes {
		leaf, err := parseHash(s)
		if err != nil {
			return "", fmt.Errorf("leaf_hashes[%d]: %v", i, err)
		}
		if want := tlog.StoredHashIndex(0, int64(i)); want != int64(len(stored)) {
			return "", fmt.Errorf("stored hash layout mismatch at record %d", i)
		}
		hashes, err := tlog.StoredHashesForRecordHash(int64(i), leaf, reader)
		if err != nil {
			return "", err
		}
		stored = append(stored, hashes...)
	}
	n := int64(len(req.LeafHashes))
	if int64(len(stored)) != tlog.StoredHashCount(n) {
		return "", errors.New("stored hash count mismatch")
	}
	var h tlog.Hash
	err := guard(func() error {
		var err error
		h, err = tlog.TreeHash(n, reader)
		return err
	})
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func usage(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "goverify: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	if len(os.Args) != 1 {
		usage("takes no arguments; reads one JSON request on stdin")
	}
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		usage("reading stdin: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req request
	if err := dec.Decode(&req); err != nil {
		usage("bad request: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		usage("bad request: trailing data after the JSON object")
	}

	resp := response{
		Signers:           []string{},
		UnverifiedSigners: []string{},
		Inclusion:         []checkResult{},
		Consistency:       []checkResult{},
	}

	var cp *checkpoint
	switch {
	case req.Note == nil:
		resp.NoteError = "no note in request"
	case req.VerifierKey == nil:
		resp.NoteError = "no verifier_key in request"
	default:
		c, err := openNote(&resp, *req.VerifierKey, *req.Note)
		if err != nil {
			resp.NoteError = err.Error()
		} else {
			cp = c
			resp.NoteOK = true
			resp.Origin = c.origin
			resp.Size = c.size
			resp.Root = c.root.String()
		}
	}

	for _, inc := range req.Inclusion {
		resp.Inclusion = append(resp.Inclusion, result(checkInclusion(inc, cp)))
	}
	for _, con := range req.Consistency {
		resp.Consistency = append(resp.Consistency, result(checkConsistency(con, cp)))
	}
	if req.Tree != nil {
		root, err := treeRoot(*req.Tree)
		if err != nil {
			resp.TreeError = err.Error()
		} else {
			resp.TreeRoot = root
		}
	}

	out, err := json.Marshal(resp)
	if err != nil {
		usage("encoding response: %v", err)
	}
	os.Stdout.Write(append(out, '\n'))
}
