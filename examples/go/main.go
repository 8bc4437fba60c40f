// Routes the prompts of a JSONL file with librouter's Go binding.
//
// Usage: go run . DATASET.jsonl PROMPTS.jsonl [CONFIG_JSON]
//
// Fits a router on DATASET (routing data: prompts with each model's scores
// and costs), then prints, for each line {"prompt": "..."} of PROMPTS, the
// prompt and the model chosen for it. Building needs router_c.pc on
// PKG_CONFIG_PATH (see bindings/go).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"librouter/router"
)

func run(dataset, prompts, config string) error {
	r, err := router.FromDataset(dataset, config)
	if err != nil {
		return err
	}
	defer r.Close()
	file, err := os.Open(prompts)
	if err != nil {
		return err
	}
	defer file.Close()
	lines := bufio.NewScanner(file)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		if len(lines.Bytes()) == 0 {
			continue
		}
		var line struct{ Prompt string }
		if err := json.Unmarshal(lines.Bytes(), &line); err != nil {
			return fmt.Errorf("%s: %w", prompts, err)
		}
		d, err := r.Route(line.Prompt)
		if err != nil {
			return err
		}
		fmt.Printf("%s\n  -> %s (quality %.3f, cost $%.6f)\n", line.Prompt, d.Model, d.Quality, d.CostUSD)
	}
	return lines.Err()
}

func main() {
	if len(os.Args) != 3 && len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: route DATASET.jsonl PROMPTS.jsonl [CONFIG_JSON]")
		os.Exit(2)
	}
	config := ""
	if len(os.Args) == 4 {
		config = os.Args[3]
	}
	if err := run(os.Args[1], os.Args[2], config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
