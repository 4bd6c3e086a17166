package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

const scenarioUsage = "usage: ebrcs scenario [--products DIR | --synthetic N] [--name NAME ... | --all] [--list] --out DIR [--format mp4|y4m] [--seed S]"

// scenarioFlags are `ebrcs scenario`'s options.
type scenarioFlags struct {
	productsDir, out, format string
	synthetic                int
	seed                     int64
	names                    []string
	all, list                bool
}

// cmdScenario writes synthetic checkout videos with their ground truth (testkit/scenario):
// OUT/NAME.mp4 (or .y4m) and OUT/NAME.json per scenario of the standard suite, and with
// synthetic products their images as OUT/products/<name>/front.png, the layout that
// `ebrcs catalog import OUT/products` reads.
func cmdScenario(args []string, stdout, stderr io.Writer) int {
	f, err := parseScenarioFlags(args, stderr)
	if err != nil {
		return scenarioUsageError(stderr, err)
	}
	products, err := scenarioProducts(&f)
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	suite, err := scenario.SeededSuite(products, f.seed)
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	chosen, err := scenario.Select(suite, f.names)
	if err != nil {
		return scenarioUsageError(stderr, err)
	}
	if f.list {
		err = listScenarios(stdout, chosen, products)
	} else {
		err = writeScenarios(stdout, &f, chosen, products)
	}
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	return 0
}

// errFlags is a command line the flag package refused (it has said why).
var errFlags = errors.New("bad flags")

// scenarioUsageError reports a usage error and returns its exit code.
func scenarioUsageError(stderr io.Writer, err error) int {
	if err != errFlags {
		fmt.Fprintf(stderr, "ebrcs scenario: %s\n%s\n", err, scenarioUsage)
	}
	return 2
}

// parseScenarioFlags parses and checks `ebrcs scenario`'s command line; an error is a usage
// error.
func parseScenarioFlags(args []string, stderr io.Writer) (scenarioFlags, error) {
	var f scenarioFlags
	fs := flag.NewFlagSet("scenario", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.productsDir, "products", "", "product images: DIR/<name>.png, or DIR/<name>/ with images (the first is used)")
	fs.IntVar(&f.synthetic, "synthetic", 0, "use N generated products (6 when neither --products nor --synthetic is given)")
	fs.Func("name", "a scenario to write; repeatable (default: all)", func(v string) error {
		f.names = append(f.names, v)
		return nil
	})
	fs.BoolVar(&f.all, "all", false, "write every scenario of the suite (the default)")
	fs.BoolVar(&f.list, "list", false, "list the scenarios with their ground truth and write nothing")
	fs.StringVar(&f.out, "out", "", "output directory")
	fs.StringVar(&f.format, "format", "mp4", "video format: mp4 (H.264) or y4m (uncompressed)")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the synthetic products and of the rendering (counter, noise, flicker)")
	if err := fs.Parse(args); err != nil {
		return f, errFlags
	}
	switch {
	case fs.NArg() > 0:
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case f.productsDir != "" && f.synthetic != 0:
		return f, errors.New("--products and --synthetic are exclusive")
	case f.synthetic < 0:
		return f, errors.New("--synthetic needs a positive count")
	case f.all && len(f.names) > 0:
		return f, errors.New("--name and --all are exclusive")
	case !f.list && f.out == "":
		return f, errors.New("--out is required")
	case f.format != "mp4" && f.format != "y4m":
		return f, fmt.Errorf("--format %q: want mp4 or y4m", f.format)
	}
	return f, nil
}

// scenarioProducts are the products the flags ask for: the images of --products, or
// --synthetic N (default 6) generated ones.
func scenarioProducts(f *scenarioFlags) ([]scenario.Product, error) {
	if f.productsDir != "" {
		return scenario.LoadProducts(f.productsDir)
	}
	n := f.synthetic
	if n == 0 {
		n = 6
	}
	return scenario.SyntheticProducts(n, f.seed), nil
}

// listScenarios prints each scenario with its length, its ground-truth cart and what it shows.
func listScenarios(stdout io.Writer, chosen []*scenario.Scenario, products []scenario.Product) error {
	carts := make([]string, len(chosen))
	nameW, cartW := 0, 0
	for i, s := range chosen {
		g, err := s.Truth(products)
		if err != nil {
			return err
		}
		carts[i] = scenarioCart(g.Items)
		nameW, cartW = max(nameW, len(s.Name)), max(cartW, len(carts[i]))
	}
	for i, s := range chosen {
		fmt.Fprintf(stdout, "%-*s %5.1fs  %-*s  %s\n", nameW, s.Name, s.Duration().Seconds(), cartW, carts[i], s.Description)
	}
	return nil
}

// writeScenarios writes the synthetic products' images and each scenario's video and ground
// truth under --out, naming every file it writes.
func writeScenarios(stdout io.Writer, f *scenarioFlags, chosen []*scenario.Scenario, products []scenario.Product) error {
	if f.productsDir == "" {
		for _, p := range products {
			path, err := scenario.WriteProductImage(filepath.Join(f.out, "products"), p)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s\n", path)
		}
	}
	if f.format == "mp4" {
		if err := initGStreamer(); err != nil {
			return err
		}
	}
	for _, s := range chosen {
		g, err := s.Truth(products)
		if err != nil {
			return err
		}
		video, truth, err := scenario.Generate(f.out, s, products, f.format)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (%d frames, %.1fs)\n", video, g.Frames, float64(g.Frames)/float64(g.FPS))
		fmt.Fprintf(stdout, "wrote %s (%s)\n", truth, scenarioCart(g.Items))
	}
	return nil
}

// scenarioCart formats ground-truth items as "A x1, B x2", or "empty cart".
func scenarioCart(items map[string]int) string {
	if len(items) == 0 {
		return "empty cart"
	}
	var parts []string
	for name, n := range items {
		parts = append(parts, fmt.Sprintf("%s x%d", name, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
