package address

import (
	"errors"
	"math"
	"strings"
	"unicode/utf8"
)

// Punycode parameters, RFC 3492 §5.
const (
	punyBase        = 36
	punyTMin        = 1
	punyTMax        = 26
	punySkew        = 38
	punyDamp        = 700
	punyInitialBias = 72
	punyInitialN    = 128
)

var errPunyOverflow = errors.New("punycode overflow")

// punyEncode encodes a label with Punycode (RFC 3492 §6.3), without the
// "xn--" prefix. Callers bound the input to a domain's length.
func punyEncode(s string) string {
	runes := []rune(s)
	var out []byte
	for _, r := range runes {
		if r < 0x80 {
			out = append(out, byte(r))
		}
	}
	basic := len(out)
	h := basic
	if basic > 0 {
		out = append(out, '-')
	}
	n, delta, bias := punyInitialN, 0, punyInitialBias
	for h < len(runes) {
		m := math.MaxInt32
		for _, r := range runes {
			if int(r) >= n && int(r) < m {
				m = int(r)
			}
		}
		delta += (m - n) * (h + 1)
		n = m
		for _, r := range runes {
			if int(r) < n {
				delta++
			}
			if int(r) != n {
				continue
			}
			out = appendVarint(out, delta, bias)
			bias = punyAdapt(delta, h+1, h == basic)
			delta = 0
			h++
		}
		delta++
		n++
	}
	return string(out)
}

// appendVarint writes q as a generalized variable-length integer.
func appendVarint(out []byte, q, bias int) []byte {
	for k := punyBase; ; k += punyBase {
		t := punyThreshold(k, bias)
		if q < t {
			break
		}
		out = append(out, punyDigit(t+(q-t)%(punyBase-t)))
		q = (q - t) / (punyBase - t)
	}
	return append(out, punyDigit(q))
}

// punyDecode decodes a Punycode label (RFC 3492 §6.2) given without its
// "xn--" prefix.
func punyDecode(s string) (string, error) {
	var out []rune
	if pos := strings.LastIndexByte(s, '-'); pos >= 0 {
		for i := 0; i < pos; i++ {
			out = append(out, rune(s[i]))
		}
		s = s[pos+1:]
	}
	n, i, bias := punyInitialN, 0, punyInitialBias
	for len(s) > 0 {
		oldi := i
		var err error
		i, s, err = readVarint(s, i, bias)
		if err != nil {
			return "", err
		}
		l := len(out) + 1
		bias = punyAdapt(i-oldi, l, oldi == 0)
		if i/l > math.MaxInt32-n {
			return "", errPunyOverflow
		}
		n += i / l
		i %= l
		if n > utf8.MaxRune || !utf8.ValidRune(rune(n)) {
			return "", errors.New("punycode decodes to an invalid code point")
		}
		out = append(out, 0)
		copy(out[i+1:], out[i:])
		out[i] = rune(n)
		i++
	}
	return string(out), nil
}

// readVarint reads one generalized variable-length integer from s and
// adds it to i.
func readVarint(s string, i, bias int) (int, string, error) {
	w := 1
	for k := punyBase; ; k += punyBase {
		if s == "" {
			return 0, "", errors.New("truncated punycode")
		}
		d, ok := punyDigitValue(s[0])
		if !ok {
			return 0, "", errors.New("bad punycode digit")
		}
		s = s[1:]
		if d > (math.MaxInt32-i)/w {
			return 0, "", errPunyOverflow
		}
		i += d * w
		t := punyThreshold(k, bias)
		if d < t {
			return i, s, nil
		}
		if w > math.MaxInt32/(punyBase-t) {
			return 0, "", errPunyOverflow
		}
		w *= punyBase - t
	}
}

func punyThreshold(k, bias int) int {
	return min(max(k-bias, punyTMin), punyTMax)
}

// punyAdapt is the bias adaptation function of RFC 3492 §6.1.
func punyAdapt(delta, numPoints int, first bool) int {
	if first {
		delta /= punyDamp
	} else {
		delta /= 2
	}
	delta += delta / numPoints
	k := 0
	for delta > ((punyBase-punyTMin)*punyTMax)/2 {
		delta /= punyBase - punyTMin
		k += punyBase
	}
	return k + (punyBase-punyTMin+1)*delta/(delta+punySkew)
}

func punyDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}

func punyDigitValue(c byte) (int, bool) {
	switch {
	case c >= 'a' && c <= 'z':
		return int(c - 'a'), true
	case c >= 'A' && c <= 'Z':
		return int(c - 'A'), true
	case c >= '0' && c <= '9':
		return int(c-'0') + 26, true
	}
	return 0, false
}
