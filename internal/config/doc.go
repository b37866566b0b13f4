// Package config owns facteur's configuration: the main.cf file in
// Postfix's syntax (postconf(5)): "name = value" lines, continuation lines,
// comments, and $name, ${name}, $(name), ${name?value} and ${name:value}
// expansion; the one table of parameters, from which `facteur config` and
// the README's parameter list are produced; the lookup tables that
// parameters name (texthash:, inline:, cidr:); the aliases file (aliases(5),
// RFC 5321 §4.5.1 postmaster); the mynetworks list; and the relayhost
// next-hop syntax.
//
// The package reads files only: interface addresses, the host name and the
// location of the configuration come from the caller.
package config
