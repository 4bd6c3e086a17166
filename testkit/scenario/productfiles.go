package scenario

import (
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
)

// decoders are the product image decoders by file extension, called directly rather than
// through image.Decode.
var decoders = map[string]func(io.Reader) (image.Image, error){
	".jpg": jpeg.Decode, ".jpeg": jpeg.Decode, ".png": png.Decode, ".gif": gif.Decode, ".webp": webp.Decode,
}

// LoadProducts reads one product per image file of dir (named after the file, without its
// extension) or per subdirectory (named after it, its first image in name order), sorted by
// name.
func LoadProducts(dir string) ([]Product, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var products []Product
	seen := map[string]string{}
	for _, e := range entries {
		name, path, err := productImage(dir, e.Name())
		if err != nil {
			return nil, err
		}
		if path == "" {
			continue
		}
		if other, dup := seen[name]; dup {
			return nil, fmt.Errorf("product %q twice: %s and %s", name, other, path)
		}
		seen[name] = path
		img, err := decodeImage(path)
		if err != nil {
			return nil, err
		}
		products = append(products, Product{Name: name, Image: img})
	}
	if len(products) == 0 {
		return nil, fmt.Errorf("%s: no product images (DIR/<name>.png or DIR/<name>/*.jpg)", dir)
	}
	sort.Slice(products, func(i, j int) bool { return products[i].Name < products[j].Name })
	return products, nil
}

// productImage names the product of the directory entry entry of dir and the image it is
// made from; path "": the entry is no product.
func productImage(dir, entry string) (name, path string, err error) {
	path = filepath.Join(dir, entry)
	st, err := os.Stat(path)
	if err != nil {
		return "", "", err
	}
	if st.IsDir() {
		first, err := firstImage(path)
		return entry, first, err
	}
	ext := filepath.Ext(entry)
	if decoders[strings.ToLower(ext)] == nil {
		return "", "", nil
	}
	return strings.TrimSuffix(entry, ext), path, nil
}

// firstImage returns the first image file of dir in name order, "" if it has none.
func firstImage(dir string) (string, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if decoders[strings.ToLower(filepath.Ext(f.Name()))] != nil && !f.IsDir() {
			return filepath.Join(dir, f.Name()), nil
		}
	}
	return "", nil
}

func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := decoders[strings.ToLower(filepath.Ext(path))](f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// WriteProductImage writes DIR/<name>/front.png, the layout `ebrcs catalog import DIR` reads,
// and returns its path.
func WriteProductImage(dir string, p Product) (string, error) {
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
