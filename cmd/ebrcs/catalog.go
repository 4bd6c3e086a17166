package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/recognition"
)

// recognitionFlags are the options every catalog and eval command shares.
type recognitionFlags struct {
	data, embedder, modelDir string
	maxImages                int
}

func (r *recognitionFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.data, "data", envOr("EBRCS_DATA", "var/catalog"), "catalog data directory (catalog.db and its index)")
	fs.StringVar(&r.embedder, "embedder", envOr("EBRCS_EMBEDDER", ""), "embedder configuration file; empty: the built-in default")
	fs.StringVar(&r.modelDir, "models", envOr("EBRCS_MODELS", "models"), "directory of the model files")
	fs.IntVar(&r.maxImages, "max-images", 0, "most images per product (default: the catalog's, 3)")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (r *recognitionFlags) open() (*recognition.Embedder, *data.Catalog, error) {
	emb, err := recognition.OpenEmbedder(r.embedder, r.modelDir)
	if err != nil {
		return nil, nil, err
	}
	cat, err := recognition.OpenCatalog(r.data, emb, data.Options{MaxImages: r.maxImages})
	if err != nil {
		return nil, nil, err
	}
	return emb, cat, nil
}

// cmdCatalog: ebrcs catalog import DIR | list [--json] | rm NAME.
func cmdCatalog(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: ebrcs catalog import DIR | list [--json] | rm NAME  [--data DIR] [--embedder FILE]")
		return 2
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("catalog "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf recognitionFlags
	rf.register(fs)
	asJSON := fs.Bool("json", false, "list as JSON")
	// Flags may follow the positional argument (ebrcs catalog import DIR --data X).
	var positional []string
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if err := initGStreamer(); err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	defer recognition.CloseAll()
	switch sub {
	case "import":
		if len(positional) != 1 {
			fmt.Fprintln(stderr, "usage: ebrcs catalog import DIR   (DIR/<product name>/*.jpg)")
			return 2
		}
		return catalogImport(positional[0], &rf, stdout, stderr)
	case "list":
		_, cat, err := rf.open()
		if err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
		products, err := cat.Products()
		if err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
		if *asJSON {
			json.NewEncoder(stdout).Encode(products)
			return 0
		}
		for _, p := range products {
			price := ""
			if p.PriceCents != nil {
				price = fmt.Sprintf("%d.%02d", *p.PriceCents/100, *p.PriceCents%100)
			}
			fmt.Fprintf(stdout, "%5d  %-40s %d image(s)  %-12s %s\n", p.ID, p.Name, p.Images, p.SKU, price)
		}
		fmt.Fprintf(stdout, "%d products, %d vectors\n", len(products), cat.Len())
		return 0
	case "rm":
		if len(positional) != 1 {
			fmt.Fprintln(stderr, "usage: ebrcs catalog rm NAME|ID")
			return 2
		}
		_, cat, err := rf.open()
		if err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
		p, err := cat.ProductByName(positional[0])
		if errors.Is(err, data.ErrNotFound) {
			if id, perr := strconv.ParseInt(positional[0], 10, 64); perr == nil {
				p, err = cat.Product(id)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "ebrcs: %s: %v\n", positional[0], err)
			return 1
		}
		if err := cat.RemoveProduct(p.ID); err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
		fmt.Fprintf(stdout, "removed %s (id %d)\n", p.Name, p.ID)
		return 0
	}
	fmt.Fprintf(stderr, "ebrcs catalog: unknown subcommand %q\n", sub)
	return 2
}

// catalogImport registers every DIR/<product>/ folder as a product with its images. Products
// already present (by name) are skipped, so an interrupted import can simply be rerun.
func catalogImport(dir string, rf *recognitionFlags, stdout, stderr io.Writer) int {
	byName, names, err := recognition.LabeledImages(dir)
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	_, cat, err := rf.open()
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	bar := newProgress(stderr, len(names), "importing")
	start := time.Now()
	added, skipped, failed := 0, 0, 0
	for _, name := range names {
		bar.Add(1)
		if _, err := cat.ProductByName(name); err == nil {
			skipped++
			continue
		}
		var images [][]byte
		for _, path := range byName[name] {
			b, err := os.ReadFile(path)
			if err != nil {
				fmt.Fprintf(stderr, "\n%s: %v\n", path, err)
				continue
			}
			images = append(images, b)
		}
		if _, err := cat.AddProduct(data.NewProduct{Name: name, Images: images}); err != nil {
			var ie *data.ImageError
			if errors.As(err, &ie) && ie.Index < len(byName[name]) {
				err = fmt.Errorf("%s: %w", filepath.Base(byName[name][ie.Index]), err)
			}
			fmt.Fprintf(stderr, "\n%s: %v\n", name, err)
			failed++
			continue
		}
		added++
	}
	bar.Finish()
	fmt.Fprintf(stdout, "imported %d products (%d already there, %d failed) in %.1fs; catalog: %d vectors\n",
		added, skipped, failed, time.Since(start).Seconds(), cat.Len())
	if failed > 0 {
		return 1
	}
	return 0
}
