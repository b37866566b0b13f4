package local

// sysexit is the meaning of a sendmail-compatible exit status (sysexits.h),
// as Postfix's sys_exits.c maps it to RFC 3463 status codes.
type sysexit struct {
	dsn  string
	text string
}

// sysexits holds the codes from EX_USAGE (64) to EX_CONFIG (78). Only
// EX_OSERR and EX_TEMPFAIL are temporary.
var sysexits = [...]sysexit{
	{"5.3.0", "command line usage error"},      // 64 EX_USAGE
	{"5.6.0", "data format error"},             // 65 EX_DATAERR
	{"5.3.0", "cannot open input"},             // 66 EX_NOINPUT
	{"5.1.1", "user unknown"},                  // 67 EX_NOUSER
	{"5.1.2", "host name unknown"},             // 68 EX_NOHOST
	{"5.3.0", "service unavailable"},           // 69 EX_UNAVAILABLE
	{"5.3.0", "internal software error"},       // 70 EX_SOFTWARE
	{"4.3.0", "system resource problem"},       // 71 EX_OSERR
	{"5.3.0", "critical OS file missing"},      // 72 EX_OSFILE
	{"5.2.0", "can't create user output file"}, // 73 EX_CANTCREAT
	{"5.3.0", "input/output error"},            // 74 EX_IOERR
	{"4.3.0", "temporary failure"},             // 75 EX_TEMPFAIL
	{"5.5.0", "remote error in protocol"},      // 76 EX_PROTOCOL
	{"5.7.0", "permission denied"},             // 77 EX_NOPERM
	{"5.3.5", "local configuration error"},     // 78 EX_CONFIG
}

// exitMeaning returns the status code and text for exit status code.
func exitMeaning(code int) sysexit {
	if code >= 64 && code < 64+len(sysexits) {
		return sysexits[code-64]
	}
	return sysexit{"5.3.0", "unknown mail system error"}
}
