package hub

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHub serves repos the way the Hugging Face Hub does: the revision API,
// resolve HEAD/GET with X-Repo-Commit, ETag, X-Linked-Etag and X-Linked-Size,
// LFS files redirected (302) to a separate /cdn/ path, and Range requests.
type fakeHub struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	repos       map[string]*fakeRepo
	log         []fakeReq
	token       string           // when set, the Hub answers 401 without it
	cutAfter    map[string]int64 // cdn sha → bytes to send before cutting the connection (once)
	corrupt     map[string]bool  // cdn sha → serve flipped bytes
	ignoreRange bool
	fail        map[string]int // path prefix → 503 answers left
	cdnDelay    time.Duration
	announce    map[string]int // path → size the listing claims instead of the real one
	inFlight    atomic.Int32
	maxInFlight atomic.Int32
}

type fakeRepo struct {
	commits map[string]map[string][]byte // commit → path → content
	refs    map[string]string            // branch or tag → commit
}

type fakeReq struct {
	method, path, rangeHdr, auth string
}

func newFakeHub(t *testing.T) *fakeHub {
	t.Helper()
	h := &fakeHub{t: t, repos: map[string]*fakeRepo{}, cutAfter: map[string]int64{},
		corrupt: map[string]bool{}, fail: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

// addCommit stores files as commit of repo and points refs at it.
func (h *fakeHub) addCommit(repo, commit string, files map[string][]byte, refs ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[repo]
	if r == nil {
		r = &fakeRepo{commits: map[string]map[string][]byte{}, refs: map[string]string{}}
		h.repos[repo] = r
	}
	r.commits[commit] = files
	for _, ref := range refs {
		r.refs[ref] = commit
	}
}

func (h *fakeHub) requests() []fakeReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]fakeReq(nil), h.log...)
}

// count returns how many logged requests match method and path prefix.
func (h *fakeHub) count(method, prefix string) int {
	n := 0
	for _, r := range h.requests() {
		if (method == "" || r.method == method) && strings.HasPrefix(r.path, prefix) {
			n++
		}
	}
	return n
}

func isLFS(path string) bool {
	return strings.HasSuffix(path, ".safetensors") || strings.HasSuffix(path, ".bin") || strings.HasSuffix(path, ".pth")
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func gitBlobSHA(b []byte) string {
	s := sha1.Sum(append([]byte("blob "+strconv.Itoa(len(b))+"\x00"), b...))
	return hex.EncodeToString(s[:])
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	h.mu.Lock()
	h.log = append(h.log, fakeReq{r.Method, path, r.Header.Get("Range"), r.Header.Get("Authorization")})
	for prefix, left := range h.fail {
		if left > 0 && strings.HasPrefix(path, prefix) {
			h.fail[prefix] = left - 1
			h.mu.Unlock()
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
	}
	h.mu.Unlock()
	if strings.HasPrefix(path, "/cdn/") {
		h.serveCDN(w, r, strings.TrimPrefix(path, "/cdn/"))
		return
	}
	if h.token != "" && r.Header.Get("Authorization") != "Bearer "+h.token {
		w.Header().Set(headerErrorMsg, "Access to this model is restricted")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if rest, ok := strings.CutPrefix(path, "/api/models/"); ok {
		h.serveAPI(w, rest)
		return
	}
	h.serveResolve(w, r, path)
}

// lookup finds a repo and the commit a revision names.
func (h *fakeHub) lookup(w http.ResponseWriter, repo, rev string) (map[string][]byte, string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[repo]
	if r == nil {
		w.Header().Set(headerErrorCode, "RepoNotFound")
		http.Error(w, "repo not found", http.StatusNotFound)
		return nil, "", false
	}
	commit := rev
	if c, ok := r.refs[rev]; ok {
		commit = c
	}
	files, ok := r.commits[commit]
	if !ok {
		w.Header().Set(headerErrorCode, "RevisionNotFound")
		http.Error(w, "revision not found", http.StatusNotFound)
		return nil, "", false
	}
	return files, commit, true
}

func (h *fakeHub) serveAPI(w http.ResponseWriter, rest string) {
	// {org}/{name}/revision/{rev}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) != 4 || parts[2] != "revision" {
		http.NotFound(w, nil)
		return
	}
	files, commit, ok := h.lookup(w, parts[0]+"/"+parts[1], parts[3])
	if !ok {
		return
	}
	type lfs struct {
		SHA256      string `json:"sha256"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	}
	type sib struct {
		RFilename string `json:"rfilename"`
		BlobID    string `json:"blobId"`
		Size      int    `json:"size"`
		LFS       *lfs   `json:"lfs,omitempty"`
	}
	out := struct {
		ID       string `json:"id"`
		SHA      string `json:"sha"`
		Siblings []sib  `json:"siblings"`
	}{ID: parts[0] + "/" + parts[1], SHA: commit}
	for p, b := range files {
		size, ok := h.announce[p]
		if !ok {
			size = len(b)
		}
		s := sib{RFilename: p, BlobID: gitBlobSHA(b), Size: size}
		if isLFS(p) {
			s.LFS = &lfs{SHA256: sha256Hex(b), Size: size, PointerSize: 134}
		}
		out.Siblings = append(out.Siblings, s)
	}
	sort.Slice(out.Siblings, func(i, j int) bool { return out.Siblings[i].RFilename < out.Siblings[j].RFilename })
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (h *fakeHub) serveResolve(w http.ResponseWriter, r *http.Request, path string) {
	// /{org}/{name}/resolve/{rev}/{file...}
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 5)
	if len(parts) != 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	files, commit, ok := h.lookup(w, parts[0]+"/"+parts[1], parts[3])
	if !ok {
		return
	}
	w.Header().Set(headerRepoCommit, commit)
	b, ok := files[parts[4]]
	if !ok {
		w.Header().Set(headerErrorCode, "EntryNotFound")
		http.Error(w, "entry not found", http.StatusNotFound)
		return
	}
	if isLFS(parts[4]) {
		sum := sha256Hex(b)
		w.Header().Set("ETag", `"`+gitBlobSHA([]byte("pointer "+sum))+`"`)
		w.Header().Set(headerLinkedEtag, `"`+sum+`"`)
		w.Header().Set(headerLinkedSize, strconv.Itoa(len(b)))
		w.Header().Set("Location", h.srv.URL+"/cdn/"+sum)
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+gitBlobSHA(b)+`"`)
	h.serveBytes(w, r, b, "")
}

func (h *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request, sum string) {
	if r.Header.Get("Authorization") != "" {
		h.t.Errorf("CDN request %s carries an Authorization header", r.URL)
	}
	h.mu.Lock()
	var blob []byte
	for _, repo := range h.repos {
		for _, files := range repo.commits {
			for _, b := range files {
				if sha256Hex(b) == sum {
					blob = b
				}
			}
		}
	}
	h.mu.Unlock()
	if blob == nil {
		http.NotFound(w, r)
		return
	}
	n := h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	for {
		m := h.maxInFlight.Load()
		if n <= m || h.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(h.cdnDelay)
	h.serveBytes(w, r, blob, sum)
}

// serveBytes answers GET/HEAD with Range support and the configured faults.
func (h *fakeHub) serveBytes(w http.ResponseWriter, r *http.Request, b []byte, sum string) {
	h.mu.Lock()
	ignoreRange, corrupt := h.ignoreRange, h.corrupt[sum]
	cut, doCut := h.cutAfter[sum]
	if doCut {
		delete(h.cutAfter, sum)
	}
	h.mu.Unlock()
	if corrupt {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 0xff
	}
	start := 0
	if rg := r.Header.Get("Range"); rg != "" && !ignoreRange {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		if err != nil || n >= len(b) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(b)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start = n
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(b)-1, len(b)))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)-start))
	w.Header().Set("Accept-Ranges", "bytes")
	if start > 0 {
		w.WriteHeader(http.StatusPartialContent)
	}
	if r.Method == http.MethodHead {
		return
	}
	body := b[start:]
	if doCut && int(cut) < len(body) {
		_, _ = w.Write(body[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	_, _ = w.Write(body)
}
