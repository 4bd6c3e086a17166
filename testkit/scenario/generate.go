package scenario

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Generate writes DIR/NAME.FORMAT (format "mp4" or "y4m") and its ground truth DIR/NAME.json,
// creating dir. The truth is checked before anything is rendered; on a failure neither file
// is left behind. "mp4" needs gst.Init to have been called.
func Generate(dir string, s *Scenario, products []Product, format string) (videoPath, truthPath string, err error) {
	if format != "mp4" && format != "y4m" {
		return "", "", fmt.Errorf("format %q: want mp4 or y4m", format)
	}
	truth, err := s.Truth(products)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	video := filepath.Join(dir, s.Name+"."+format)
	if format == "mp4" {
		err = WriteMP4(video, s, products)
	} else {
		err = writeY4MFile(video, s, products)
	}
	if err != nil {
		os.Remove(video)
		return "", "", err
	}
	b, err := json.MarshalIndent(truth, "", "  ")
	if err != nil {
		os.Remove(video)
		return "", "", err
	}
	truthFile := filepath.Join(dir, s.Name+".json")
	if err := os.WriteFile(truthFile, append(b, '\n'), 0o644); err != nil {
		os.Remove(video)
		return "", "", err
	}
	return video, truthFile, nil
}

func writeY4MFile(path string, s *Scenario, products []Product) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteY4M(f, s, products); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
