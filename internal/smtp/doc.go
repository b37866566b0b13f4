// Package smtp is the SMTP wire format shared by facteur's server and
// client: command lines, ESMTP parameters, replies with enhanced status
// codes (RFC 5321, RFC 2034, RFC 3463), the strict CRLF line reader,
// dot-stuffing and the end-of-data rule, and BDAT chunks (RFC 3030).
package smtp
