// Package data is the store's product catalog: products, their photos and one embedding per
// photo (and augmented view), stored in SQLite (catalog.db) and searched with FAISS.
//
// # Files
//
// A data directory holds catalog.db (the truth: products, image bytes, vectors, learned views
// and "none" answers, in WAL mode), index.faiss with its sidecar index.json (a derived copy of
// the current embedder's vectors, which can be deleted at any time and is rebuilt from the
// database), scatter.bin (the adapted projection's largest statistic, likewise derived, see
// scatterfile.go), and catalog.lock (one process at a time).
//
// # Recognition
//
// Search scores products by cosine with their prototypes (or their nearest vector).
// Recognise scores a visit in a projection fitted on the catalog itself, with the products'
// learned views and the "none" memory: see adapt.go, learned.go and refit.go.
//
// # Consistency between the database and the index
//
// Every change to the searchable content (adding or removing a product or a product's photos,
// storing re-embedded vectors) increments a generation counter in the same SQLite
// transaction. The index is saved after each change with the generation it reflects; at
// Open, a sidecar whose generation, embedder fingerprint, catalog identity, dimension or
// vector count differs from the database's means the index is stale (a crash between the
// commit and the index write, a restored backup, a copied file) and it is rebuilt from the
// stored vectors.
//
// # Model changes
//
// Vectors are stored per embedder fingerprint. When Open finds images without vectors for the
// current fingerprint, it decodes the stored image bytes and embeds them again before building
// the index. Older models' vectors are kept, so rolling a model back is instant.
//
// # Index kinds
//
// Flat (exact inner product) below Options.HNSWThreshold vectors, HNSW above, by default.
// HNSW cannot delete: removed products' (and photos') vectors stay in the graph as
// tombstones that Search skips, until the graph is rebuilt in the background (at 10%
// tombstones) and swapped in under the write lock. The same background build turns a flat
// index into HNSW when the catalog grows past the threshold, and serves exact flat search
// meanwhile.
package data
