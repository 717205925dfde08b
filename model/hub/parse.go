package hub

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// repoInfo is what the Hub's revision API says about a repo.
type repoInfo struct {
	commit string
	files  map[string]remoteFile
}

// remoteFile is one file of a repo listing.
type remoteFile struct {
	size   int64  // -1 when unknown
	sha256 string // LFS files only
}

type apiSibling struct {
	RFilename string `json:"rfilename"`
	Size      *int64 `json:"size"`
	LFS       *struct {
		SHA256 string `json:"sha256"`
		Size   *int64 `json:"size"`
	} `json:"lfs"`
}

type apiRepoInfo struct {
	SHA      string       `json:"sha"`
	Siblings []apiSibling `json:"siblings"`
}

// parseRepoInfo parses the body of GET /api/models/{repo}/revision/{rev}.
func parseRepoInfo(data []byte) (repoInfo, error) {
	var raw apiRepoInfo
	if err := json.Unmarshal(data, &raw); err != nil {
		return repoInfo{}, fmt.Errorf("decoding repo info: %w", err)
	}
	if !isCommit(raw.SHA) {
		return repoInfo{}, fmt.Errorf("repo info has no commit hash (sha %q)", raw.SHA)
	}
	info := repoInfo{commit: raw.SHA, files: make(map[string]remoteFile, len(raw.Siblings))}
	for _, s := range raw.Siblings {
		if err := checkRepoPath(s.RFilename); err != nil {
			return repoInfo{}, fmt.Errorf("repo info: %w", err)
		}
		f := remoteFile{size: -1}
		if s.Size != nil {
			f.size = *s.Size
		}
		if s.LFS != nil {
			sum := strings.ToLower(s.LFS.SHA256)
			if !sha256RE.MatchString(sum) {
				return repoInfo{}, fmt.Errorf("repo info: file %s has bad lfs sha256 %q", s.RFilename, s.LFS.SHA256)
			}
			f.sha256 = sum
			if s.LFS.Size != nil {
				f.size = *s.LFS.Size
			}
		}
		if f.size < -1 {
			return repoInfo{}, fmt.Errorf("repo info: file %s has negative size %d", s.RFilename, f.size)
		}
		info.files[s.RFilename] = f
	}
	return info, nil
}

// parseShardIndex parses a sharded checkpoint's index json
// ({"metadata": ..., "weight_map": {tensor: shard file}}) and returns the
// shard file names it lists, sorted and without duplicates.
func parseShardIndex(data []byte) ([]string, error) {
	var raw struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decoding shard index: %w", err)
	}
	if len(raw.WeightMap) == 0 {
		return nil, fmt.Errorf("shard index has an empty weight_map")
	}
	var shards []string
	for tensor, shard := range raw.WeightMap {
		if err := checkRepoPath(shard); err != nil || strings.Contains(shard, "/") {
			return nil, fmt.Errorf("shard index: tensor %q maps to bad shard name %q", tensor, shard)
		}
		shards = append(shards, shard)
	}
	sort.Strings(shards)
	return slices.Compact(shards), nil
}

// parseModelIndex parses a diffusers model_index.json and returns the
// component folders it names ("transformer": ["diffusers", "Class"]), sorted.
// Keys starting with "_" and components set to [null, null] are skipped.
func parseModelIndex(data []byte) ([]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decoding model_index.json: %w", err)
	}
	var comps []string
	for key, val := range raw {
		if strings.HasPrefix(key, "_") {
			continue
		}
		var pair []*string
		if json.Unmarshal(val, &pair) != nil || len(pair) != 2 {
			continue // a plain setting such as "requires_safety_checker": true
		}
		if pair[0] == nil || pair[1] == nil {
			continue
		}
		if err := checkRepoPath(key); err != nil || strings.Contains(key, "/") {
			return nil, fmt.Errorf("model_index.json: bad component name %q", key)
		}
		comps = append(comps, key)
	}
	sort.Strings(comps)
	return comps, nil
}
