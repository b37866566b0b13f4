package policy

import (
	"fmt"
	"strings"

	"facteur/internal/address"
)

// virtualLookup looks a up in virtual_alias_maps in Postfix's order:
// user+ext@domain, user@domain, @domain (catch-all). When the match did not
// include the extension, the extension is carried over to each result
// (Postfix propagate_unmatched_extensions includes "virtual"). A result
// written "@domain" keeps a's local part (domain rewriting).
func (p *Policy) virtualLookup(a address.Address) ([]string, bool, error) {
	t := p.cfg.VirtualAliases
	if t == nil || a.Domain == "" {
		return nil, false, nil
	}
	local := strings.ToLower(a.Local)
	base, ext := address.SplitExtension(local, p.cfg.RecipientDelimiter)
	keys := []string{local + "@" + a.Domain}
	if base != local {
		keys = append(keys, base+"@"+a.Domain)
	}
	keys = append(keys, "@"+a.Domain)
	for i, key := range keys {
		v, found, err := t.Lookup(key)
		if err != nil {
			return nil, false, fmt.Errorf("virtual_alias_maps lookup of %q: %w", key, err)
		}
		if !found {
			continue
		}
		suffix := ""
		if i > 0 && base != local {
			suffix = local[len(base):len(local)-len(ext)] + ext
		}
		return rewriteTargets(splitList(v), a.Local, suffix, p.origin), true, nil
	}
	return nil, false, nil
}

// rewriteTargets applies domain rewriting ("@domain" results) and
// extension propagation (suffix is the delimiter and extension) to the
// results of a virtual alias lookup, and qualifies bare names with
// origin ($myorigin, as Postfix's cleanup does).
func rewriteTargets(targets []string, local, suffix, origin string) []string {
	for i, t := range targets {
		if !strings.Contains(t, "@") {
			t += "@" + origin
			targets[i] = t
		}
		if strings.HasPrefix(t, "@") {
			targets[i] = address.Address{Local: local}.String() + t
			continue
		}
		if a, err := address.Parse(t); err == nil && suffix != "" && a.Domain != "" {
			a.Local += suffix
			targets[i] = a.String()
		}
	}
	return targets
}

// splitList splits a table value on commas and white space.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
	})
}
