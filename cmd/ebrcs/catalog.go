package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/elements/match"
	"github.com/ebrcs/ebrcs/models"
	"github.com/ebrcs/ebrcs/recognition"
)

const catalogUsage = "usage: ebrcs catalog import DIR | list [--json] | rm NAME  [--data DIR] [--embedder FILE]"

// recognitionFlags are the options every catalog and eval command shares.
type recognitionFlags struct {
	data, embedder, modelDir string
	maxImages                int
}

func (r *recognitionFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.data, "data", envOr("EBRCS_DATA", match.DefaultCatalog), "catalog data directory (catalog.db and its index)")
	fs.StringVar(&r.embedder, "embedder", envOr("EBRCS_EMBEDDER", ""), "embedder configuration file; empty: the built-in default")
	fs.StringVar(&r.modelDir, "models", envOr("EBRCS_MODELS", models.DefaultDir), "directory of the model files")
	fs.IntVar(&r.maxImages, "max-images", 0, "most images per product (default: the catalog's, 3)")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// open opens (or joins) the shared embedder and catalog the flags name.
func (r *recognitionFlags) open() (*data.Catalog, error) {
	emb, err := recognition.OpenEmbedder(r.embedder, r.modelDir)
	if err != nil {
		return nil, err
	}
	return recognition.OpenCatalog(r.data, emb, data.Options{MaxImages: r.maxImages})
}

// catalogArgs is a parsed `ebrcs catalog SUB` command line.
type catalogArgs struct {
	rf         recognitionFlags
	asJSON     bool
	positional []string
}

// parseCatalogArgs parses the options of a catalog subcommand, which may follow its
// positional argument (ebrcs catalog import DIR --data X); false: a usage error, reported.
func parseCatalogArgs(sub string, args []string, stderr io.Writer) (catalogArgs, bool) {
	var a catalogArgs
	fs := flag.NewFlagSet("catalog "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	a.rf.register(fs)
	fs.BoolVar(&a.asJSON, "json", false, "list as JSON")
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return a, false
		}
		if fs.NArg() == 0 {
			break
		}
		a.positional = append(a.positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return a, true
}

// cmdCatalog: ebrcs catalog import DIR | list [--json] | rm NAME.
func cmdCatalog(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, catalogUsage)
		return 2
	}
	sub := args[0]
	a, ok := parseCatalogArgs(sub, args[1:], stderr)
	if !ok {
		return 2
	}
	if err := initGStreamer(); err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	defer recognition.CloseAll()
	switch sub {
	case "import":
		return catalogImport(&a, stdout, stderr)
	case "list":
		return catalogList(&a, stdout, stderr)
	case "rm":
		return catalogRemove(&a, stdout, stderr)
	}
	fmt.Fprintf(stderr, "ebrcs catalog: unknown subcommand %q\n", sub)
	return 2
}

// catalogImport registers every DIR/<product>/ folder as a product with its images
// (recognition.ImportProducts).
func catalogImport(a *catalogArgs, stdout, stderr io.Writer) int {
	if len(a.positional) != 1 {
		fmt.Fprintln(stderr, "usage: ebrcs catalog import DIR   (DIR/<product name>/*.jpg)")
		return 2
	}
	byName, names, err := recognition.LabeledImages(a.positional[0])
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	cat, err := a.rf.open()
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	res := recognition.ImportProducts(cat, byName, names, recognition.ImportOptions{
		Progress:  newProgress(stderr, len(names), "importing"),
		OnProblem: func(what string, err error) { fmt.Fprintf(stderr, "\n%s: %v\n", what, err) },
	})
	fmt.Fprintf(stdout, "imported %d products (%d already there, %d failed) in %.1fs; catalog: %d vectors\n",
		res.Added, res.Skipped, res.Failed, res.Elapsed.Seconds(), cat.Len())
	if res.Failed > 0 {
		return 1
	}
	return 0
}

// catalogList prints the products, as a table or as JSON.
func catalogList(a *catalogArgs, stdout, stderr io.Writer) int {
	cat, err := a.rf.open()
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	products, err := cat.Products()
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	if a.asJSON {
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
}

// catalogRemove removes one product, by name or id (recognition.RemoveProduct).
func catalogRemove(a *catalogArgs, stdout, stderr io.Writer) int {
	if len(a.positional) != 1 {
		fmt.Fprintln(stderr, "usage: ebrcs catalog rm NAME|ID")
		return 2
	}
	cat, err := a.rf.open()
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	p, err := recognition.RemoveProduct(cat, a.positional[0])
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	fmt.Fprintf(stdout, "removed %s (id %d)\n", p.Name, p.ID)
	return 0
}
