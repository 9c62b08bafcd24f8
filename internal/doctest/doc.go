// Package doctest runs the shell blocks of a Markdown document as a test,
// so that documentation cannot drift from the binary: README.md's tour is
// executed by cmd's TestReadmeTour.
//
// Blocks reads the ```sh blocks of one section; a Runner executes their
// commands one by one with bash, in a working directory of the test's,
// keeping exported variables from one command to the next as a reader's
// shell would. A command ending in `&` runs in the background (its pid
// is kept and it is interrupted at Close); the Runner then calls the
// test's Wait hook, which polls for what the next command needs (a node
// serving, a testnet ready), so that no fixed pause is ever needed.
// Substitutions rewrite fixed ports and sizes in the text before it runs;
// a substitution that matches nothing is an error, so a document that
// changed under the test is noticed.
package doctest
