package main

import (
	"flag"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/image/webp"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

const scenarioUsage = "usage: ebrcs scenario [--products DIR | --synthetic N] [--name NAME ... | --all] [--list] --out DIR [--format mp4|y4m] [--seed S]"

// cmdScenario writes synthetic checkout videos with their ground truth (testkit/scenario):
// OUT/NAME.mp4 (or .y4m) and OUT/NAME.json per scenario of the standard suite, and with
// synthetic products their images as OUT/products/<name>/front.png, the layout that
// `ebrcs catalog import OUT/products` reads.
func cmdScenario(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scenario", flag.ContinueOnError)
	fs.SetOutput(stderr)
	productsDir := fs.String("products", "", "product images: DIR/<name>.png, or DIR/<name>/ with images (the first is used)")
	synthetic := fs.Int("synthetic", 0, "use N generated products (6 when neither --products nor --synthetic is given)")
	var names []string
	fs.Func("name", "a scenario to write; repeatable (default: all)", func(v string) error {
		names = append(names, v)
		return nil
	})
	all := fs.Bool("all", false, "write every scenario of the suite (the default)")
	list := fs.Bool("list", false, "list the scenarios with their ground truth and write nothing")
	out := fs.String("out", "", "output directory")
	format := fs.String("format", "mp4", "video format: mp4 (H.264) or y4m (uncompressed)")
	seed := fs.Int64("seed", 1, "seed of the synthetic products and of the rendering (counter, noise, flicker)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usageErr := func(msg string) int {
		fmt.Fprintf(stderr, "ebrcs scenario: %s\n%s\n", msg, scenarioUsage)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usageErr(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case *productsDir != "" && *synthetic != 0:
		return usageErr("--products and --synthetic are exclusive")
	case *synthetic < 0:
		return usageErr("--synthetic needs a positive count")
	case *all && len(names) > 0:
		return usageErr("--name and --all are exclusive")
	case !*list && *out == "":
		return usageErr("--out is required")
	case *format != "mp4" && *format != "y4m":
		return usageErr(fmt.Sprintf("--format %q: want mp4 or y4m", *format))
	}

	var products []scenario.Product
	if *productsDir != "" {
		var err error
		if products, err = loadScenarioProducts(*productsDir); err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
	} else {
		n := *synthetic
		if n == 0 {
			n = 6
		}
		products = scenario.SyntheticProducts(n, *seed)
	}
	suite, err := scenario.Suite(products)
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	// Seed S gives every scenario its own seed, distinct from those of other S.
	for _, s := range suite {
		s.Config.Seed += (*seed - 1) * int64(len(suite))
	}
	chosen := suite
	if len(names) > 0 {
		byName := map[string]*scenario.Scenario{}
		var known []string
		for _, s := range suite {
			byName[s.Name] = s
			known = append(known, s.Name)
		}
		chosen = nil
		for _, name := range names {
			s, ok := byName[name]
			if !ok {
				return usageErr(fmt.Sprintf("unknown scenario %q; known: %s", name, strings.Join(known, ", ")))
			}
			chosen = append(chosen, s)
		}
	}

	if *list {
		carts := make([]string, len(chosen))
		nameW, cartW := 0, 0
		for i, s := range chosen {
			g, err := s.Truth(products)
			if err != nil {
				fmt.Fprintln(stderr, "ebrcs:", err)
				return 1
			}
			carts[i] = scenarioCart(g.Items)
			nameW, cartW = max(nameW, len(s.Name)), max(cartW, len(carts[i]))
		}
		for i, s := range chosen {
			fmt.Fprintf(stdout, "%-*s %5.1fs  %-*s  %s\n", nameW, s.Name, s.Duration().Seconds(), cartW, carts[i], s.Description)
		}
		return 0
	}

	if *productsDir == "" {
		for _, p := range products {
			path, err := writeScenarioProduct(filepath.Join(*out, "products"), p)
			if err != nil {
				fmt.Fprintln(stderr, "ebrcs:", err)
				return 1
			}
			fmt.Fprintf(stdout, "wrote %s\n", path)
		}
	}
	if *format == "mp4" {
		if err := initGStreamer(); err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
	}
	for _, s := range chosen {
		g, err := s.Truth(products)
		if err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
		video, truth, err := scenario.Generate(*out, s, products, *format)
		if err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s (%d frames, %.1fs)\n", video, g.Frames, float64(g.Frames)/float64(g.FPS))
		fmt.Fprintf(stdout, "wrote %s (%s)\n", truth, scenarioCart(g.Items))
	}
	return 0
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

// scenarioDecoders are the image decoders by file extension. They are called directly, so
// this command registers no image format for the rest of the binary (see data/images.go).
var scenarioDecoders = map[string]func(io.Reader) (image.Image, error){
	".jpg": jpeg.Decode, ".jpeg": jpeg.Decode, ".png": png.Decode, ".gif": gif.Decode, ".webp": webp.Decode,
}

// loadScenarioProducts reads one product per image file (named after the file, without its
// extension) or per subdirectory (named after it, its first image in name order), by name.
func loadScenarioProducts(dir string) ([]scenario.Product, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var products []scenario.Product
	seen := map[string]string{}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		name := e.Name()
		if st.IsDir() {
			files, err := os.ReadDir(path)
			if err != nil {
				return nil, err
			}
			first := ""
			for _, f := range files {
				if scenarioDecoders[strings.ToLower(filepath.Ext(f.Name()))] != nil && !f.IsDir() {
					first = filepath.Join(path, f.Name())
					break
				}
			}
			if first == "" {
				continue
			}
			path = first
		} else {
			ext := filepath.Ext(name)
			if scenarioDecoders[strings.ToLower(ext)] == nil {
				continue
			}
			name = strings.TrimSuffix(name, ext)
		}
		if other, dup := seen[name]; dup {
			return nil, fmt.Errorf("product %q twice: %s and %s", name, other, path)
		}
		seen[name] = path
		img, err := decodeScenarioImage(path)
		if err != nil {
			return nil, err
		}
		products = append(products, scenario.Product{Name: name, Image: img})
	}
	if len(products) == 0 {
		return nil, fmt.Errorf("%s: no product images (DIR/<name>.png or DIR/<name>/*.jpg)", dir)
	}
	sort.Slice(products, func(i, j int) bool { return products[i].Name < products[j].Name })
	return products, nil
}

func decodeScenarioImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := scenarioDecoders[strings.ToLower(filepath.Ext(path))](f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// writeScenarioProduct writes DIR/<name>/front.png.
func writeScenarioProduct(dir string, p scenario.Product) (string, error) {
	sub := filepath.Join(dir, p.Name)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(sub, "front.png")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := png.Encode(f, p.Image); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
