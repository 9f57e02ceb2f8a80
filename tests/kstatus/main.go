// kstatus prints the kstatus verdict of Kubernetes objects, one line per object: the reference
// for tsbridge's V-KS oracle (gitops-contract.md 2.0). Input: YAML or JSON files given as
// arguments (or stdin), each holding one or several documents.
//
// Decoding follows the contract: sigs.k8s.io/yaml to JSON, then
// (*unstructured.Unstructured).UnmarshalJSON, which keeps integers as int64 (encoding/json would
// give float64 and status.Compute would fail in NestedInt64).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func main() {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	inputs := os.Args[1:]
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	for _, path := range inputs {
		if err := run(path, out); err != nil {
			out.Flush()
			fmt.Fprintf(os.Stderr, "kstatus: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func run(path string, out io.Writer) error {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return err
	}
	// Splits on "---" lines; a JSON document is valid YAML, so JSON input passes through too.
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return err
		}
		if string(bytes.TrimSpace(js)) == "null" {
			continue // a document holding only comments
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return err
		}
		res, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", u.GetKind(), u.GetName(), err)
		}
		fmt.Fprintln(out, res.Status)
	}
}
