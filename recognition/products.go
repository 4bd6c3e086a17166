package recognition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ebrcs/ebrcs/data"
)

// ImportOptions tune ImportProducts.
type ImportOptions struct {
	// Progress is advanced by one per product; nil: none.
	Progress Progress
	// OnProblem is told of each image that cannot be read (its product is imported without
	// it) and of each product the catalog refuses; nil: not told.
	OnProblem func(what string, err error)
}

// ImportResult is what ImportProducts did.
type ImportResult struct {
	Added, Skipped, Failed int
	Elapsed                time.Duration
}

// ImportProducts registers every product of images (by name, as LabeledImages lists them)
// with its image files. Products already in the catalog (by name) are skipped, so an
// interrupted import can simply be rerun; a product the catalog refuses is counted in Failed
// and the others are still imported.
func ImportProducts(cat *data.Catalog, images map[string][]string, names []string, opts ImportOptions) ImportResult {
	bar := opts.Progress
	if bar == nil {
		bar = noProgress{}
	}
	problem := opts.OnProblem
	if problem == nil {
		problem = func(string, error) {}
	}
	start := time.Now()
	var res ImportResult
	for _, name := range names {
		bar.Add(1)
		if _, err := cat.ProductByName(name); err == nil {
			res.Skipped++
			continue
		}
		if err := importProduct(cat, name, images[name], problem); err != nil {
			problem(name, err)
			res.Failed++
			continue
		}
		res.Added++
	}
	bar.Finish()
	res.Elapsed = time.Since(start)
	return res
}

// importProduct adds one product with the images that can be read; an image the catalog
// refuses is named in the error.
func importProduct(cat *data.Catalog, name string, paths []string, problem func(string, error)) error {
	var images [][]byte
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			problem(path, err)
			continue
		}
		images = append(images, b)
	}
	_, err := cat.AddProduct(data.NewProduct{Name: name, Images: images})
	var ie *data.ImageError
	if errors.As(err, &ie) && ie.Index < len(paths) {
		err = fmt.Errorf("%s: %w", filepath.Base(paths[ie.Index]), err)
	}
	return err
}

// RemoveProduct removes the product called nameOrID (as ProductByName finds it) or, when no
// product has that name, the one with that id, and returns it.
func RemoveProduct(cat *data.Catalog, nameOrID string) (*data.Product, error) {
	p, err := cat.ProductByName(nameOrID)
	if errors.Is(err, data.ErrNotFound) {
		if id, perr := strconv.ParseInt(nameOrID, 10, 64); perr == nil {
			p, err = cat.Product(id)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameOrID, err)
	}
	if err := cat.RemoveProduct(p.ID); err != nil {
		return nil, err
	}
	return p, nil
}
