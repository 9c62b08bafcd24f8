package doctest

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Command is one shell command of a document: continuation lines (ending
// in a backslash) joined with their newlines kept, comment-only lines
// dropped.
type Command struct {
	// Line is the 1-based line of the document where the command starts.
	Line int
	Text string
}

// Background reports whether the command ends in `&` (before any
// trailing comment): it starts a process that keeps running.
func (c Command) Background() bool {
	return strings.HasSuffix(strings.TrimSpace(stripComment(c.Text)), "&")
}

// Blocks returns the commands of every ```sh (or ```bash, ```shell) block
// in the section of md whose heading text is heading (any level), up to
// the next heading of the same or a higher level. A missing section, or
// one without a shell block, is an error.
func Blocks(md []byte, heading string) ([]Command, error) {
	var (
		cmds              []Command
		in, inCode, shell bool
		level             int
		cur               *Command
		lineNo            int
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if !inCode {
				lang := strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))
				inCode, shell = true, lang == "sh" || lang == "bash" || lang == "shell"
			} else {
				if cur != nil {
					return nil, fmt.Errorf("doctest: line %d: the block ends inside a continued command", lineNo)
				}
				inCode, shell = false, false
			}
			continue
		}
		if !inCode && strings.HasPrefix(line, "#") {
			l := len(line) - len(strings.TrimLeft(line, "#"))
			text := strings.TrimSpace(line[l:])
			switch {
			case text == heading:
				in, level = true, l
			case in && l <= level:
				in = false
			}
			continue
		}
		if !in || !inCode || !shell {
			continue
		}
		if cur == nil {
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			cur = &Command{Line: lineNo}
		} else {
			cur.Text += "\n"
		}
		cur.Text += line
		if strings.HasSuffix(line, "\\") {
			continue
		}
		cmds = append(cmds, *cur)
		cur = nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("doctest: no shell block under the heading %q", heading)
	}
	return cmds, nil
}

// stripComment removes a trailing shell comment: a '#' at the start or
// after a blank, outside quotes.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				i++
			}
		case c == '\\':
			i++
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t' || s[i-1] == '\n'):
			return s[:i]
		}
	}
	return s
}
