package models

import (
	"path/filepath"
	"testing"

	"samtrack/config"
)

func TestConfiguredStore(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("SAMTRACK_CACHE", cache)
	for _, tc := range []struct {
		name, dir, mirror, want string
	}{
		{"models.dir wins", "/srv/models", "", "/srv/models"},
		{"else SAMTRACK_CACHE/models", "", "http://127.0.0.1:9/m", filepath.Join(cache, "models")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c config.Config
			c.Models.Dir, c.Models.Mirror = tc.dir, tc.mirror
			st, err := ConfiguredStore(c)
			if err != nil {
				t.Fatal(err)
			}
			if st.Dir != tc.want || st.Mirror != tc.mirror {
				t.Fatalf("store = %+v, want dir %s mirror %q", st, tc.want, tc.mirror)
			}
		})
	}
}

func TestStoreCatalogueAddsRegistrations(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	cat, err := st.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := NewCatalogue(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.All()) != len(builtin.All()) || len(cat.All()) == 0 {
		t.Fatalf("an empty store's catalogue has %d models, the builtin registry %d", len(cat.All()), len(builtin.All()))
	}
}
