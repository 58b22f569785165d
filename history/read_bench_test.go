package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// benchHistory is n register entries shaped like a real run's.
func benchHistory(n int) []byte {
	var buf bytes.Buffer
	for i := 0; i < n; i += 2 {
		p := Process(i / 2)
		inv := Op{Index: int64(i), Time: int64(i) * 1000, Process: p, Type: Invoke, F: FWrite, Key: fmt.Sprintf("k%d", i%10), Value: IntValue(int64(i)), Node: "n3"}
		ok := inv
		ok.Index, ok.Time, ok.Type = int64(i+1), int64(i)*1000+500, OK
		for _, op := range []Op{inv, ok} {
			b, _ := json.Marshal(op)
			buf.Write(append(b, '\n'))
		}
	}
	return buf.Bytes()
}

func BenchmarkRead100k(b *testing.B) {
	data := benchHistory(100_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Read(bytes.NewReader(data), "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
