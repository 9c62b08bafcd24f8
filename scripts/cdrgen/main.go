// Command cdrgen writes synthetic CDR files (and a matching rate deck) for
// benchmarks of `ospnode settle rate` and `ospnode reconcile`: go run
// ./scripts/cdrgen -n 10000000 -cdrs /tmp/cdrs.csv -deck /tmp/deck.csv.
// With -theirs it also writes the counterparty's view of the same calls:
// 1 % with +1 s (partial), 1 % with +30 s (mismatch), 1 % missing (ours
// only) and 1 % extra calls (theirs only), the rest identical, in another
// order (shuffled within blocks of 1,000 lines, as carriers' exports are).
// Output is deterministic for a seed. Not part of ospnode; a dev tool.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"strconv"
	"time"
)

func main() {
	n := flag.Int("n", 1_000_000, "number of CDRs")
	cdrs := flag.String("cdrs", "cdrs.csv", "CDR file to write")
	theirs := flag.String("theirs", "", "also write the counterparty's CDRs of the same calls here")
	deck := flag.String("deck", "", "also write a rate deck that rates every generated number")
	prefixes := flag.Int("prefixes", 20000, "deck rows")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()

	rng := rand.New(rand.NewSource(*seed))
	ccs := []string{"1", "7", "20", "27", "30", "31", "33", "34", "39", "41", "44", "46", "49", "52", "55", "61", "81", "86", "91", "234", "351", "880", "971"}
	seen := map[string]bool{}
	var rows []string
	for _, cc := range ccs {
		seen[cc] = true
		rows = append(rows, cc)
	}
	for len(rows) < *prefixes {
		p := ccs[rng.Intn(len(ccs))]
		for k := rng.Intn(5) + 1; k > 0; k-- {
			p += string(rune('0' + rng.Intn(10)))
		}
		if !seen[p] {
			seen[p] = true
			rows = append(rows, p)
		}
	}
	if *deck != "" {
		w, done := create(*deck)
		fmt.Fprintln(w, "prefix,description,rate,connect_fee,first_increment,next_increment,effective_from")
		incs := [][2]int{{1, 1}, {30, 6}, {60, 60}, {6, 6}}
		for i, p := range rows {
			inc := incs[i%len(incs)]
			fmt.Fprintf(w, "%s,dest %d,0.%06d,0,%d,%d,2026-01-01\n", p, i, rng.Intn(1000000), inc[0], inc[1])
		}
		done()
	}

	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	month := int64(30 * 24 * 3600 * 1000)
	ours, doneOurs := create(*cdrs)
	var th *bufio.Writer
	doneTheirs := func() {}
	if *theirs != "" {
		th, doneTheirs = create(*theirs)
	}
	const header = "transaction_id,call_id,calling,called,connect_time,duration\n"
	ours.WriteString(header)
	if th != nil {
		th.WriteString(header)
	}
	var block [][]byte
	flush := func() {
		rng.Shuffle(len(block), func(i, j int) { block[i], block[j] = block[j], block[i] })
		for _, b := range block {
			th.Write(b)
		}
		block = block[:0]
	}
	buf := make([]byte, 0, 256)
	line := func(tx int, calling, called string, at, ms int64) []byte {
		buf = buf[:0]
		buf = strconv.AppendInt(buf, int64(tx), 10)
		buf = append(buf, ",c"...)
		buf = strconv.AppendInt(buf, int64(tx), 36)
		buf = append(buf, "@sbc,"...)
		buf = append(buf, calling...)
		buf = append(buf, ',')
		buf = append(buf, called...)
		buf = append(buf, ',')
		buf = time.UnixMilli(at).UTC().AppendFormat(buf, "2006-01-02T15:04:05.000Z")
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, ms/1000, 10)
		buf = append(buf, '.')
		buf = append(buf, byte('0'+ms%1000/100), byte('0'+ms%100/10), byte('0'+ms%10))
		buf = append(buf, '\n')
		return buf
	}
	for i := 0; i < *n; i++ {
		called := rows[rng.Intn(len(rows))]
		for len(called) < 11 {
			called += string(rune('0' + rng.Intn(10)))
		}
		calling := "4420" + strconv.Itoa(1000000+rng.Intn(8999999))
		at := start + rng.Int63n(month)
		ms := int64(rng.ExpFloat64() * 180000)
		if ms > 4*3600*1000 {
			ms = 4 * 3600 * 1000
		}
		tx := 100000000 + i
		ours.Write(line(tx, calling, called, at, ms))
		if th == nil {
			continue
		}
		switch r := rng.Intn(100); {
		case r == 0: // they miss it
		case r == 1:
			block = append(block, append([]byte(nil), line(tx, calling, called, at, ms+1000)...))
		case r == 2:
			block = append(block, append([]byte(nil), line(tx, calling, called, at, ms+30000)...))
		case r == 3:
			block = append(block, append([]byte(nil), line(tx, calling, called, at, ms)...))
			block = append(block, append([]byte(nil), line(900000000+i, calling, called, at+5000, ms)...))
		default:
			block = append(block, append([]byte(nil), line(tx, calling, called, at, ms)...))
		}
		if len(block) >= 1000 {
			flush()
		}
	}
	if th != nil {
		flush()
	}
	doneOurs()
	doneTheirs()
}

func create(name string) (*bufio.Writer, func()) {
	f, err := os.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	return w, func() {
		if err := w.Flush(); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
}
