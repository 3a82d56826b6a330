package yggdrasil

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/api"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// Marketplace is the nornen service, a small in-memory marketplace. It is
// safe for concurrent use.
type Marketplace struct {
	mu        sync.Mutex
	providers []api.Provider
	offers    []api.Offer
	nextID    int
}

var _ ratatoskrhttp.Service = (*Marketplace)(nil)

// NewMarketplace returns a marketplace with a few demo providers and offers.
func NewMarketplace() *Marketplace {
	return &Marketplace{
		providers: []api.Provider{
			{ID: "prv-1", Name: "Brokkr & Sindri Smithy", Category: "crafts", Owner: "nornen"},
			{ID: "prv-2", Name: "Idunn's Orchard", Category: "food", Owner: "nornen"},
			{ID: "prv-3", Name: "Skidbladnir Shipping", Category: "logistics", Owner: "nornen"},
		},
		offers: []api.Offer{
			{ID: "off-1", ProviderID: "prv-1", Title: "Hand-forged hammer", PriceCents: 4900, Currency: "EUR"},
			{ID: "off-2", ProviderID: "prv-2", Title: "Box of golden apples", PriceCents: 1250, Currency: "EUR"},
			{ID: "off-3", ProviderID: "prv-3", Title: "Foldable ship, next-day delivery", PriceCents: 29900, Currency: "EUR"},
		},
		nextID: 4,
	}
}

// Providers returns a copy of the registered providers.
func (m *Marketplace) Providers() []api.Provider {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.providers)
}

// Offers returns a copy of the offers.
func (m *Marketplace) Offers() []api.Offer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.offers)
}

// Serve answers an api.NornenRequest. Bad input is refused with
// INVALID_REQUEST, a name another user registered with PROVIDER_EXISTS.
func (m *Marketplace) Serve(_ context.Context, req *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
	var in api.NornenRequest
	if err := decode(req.Payload, &in); err != nil {
		return nil, err
	}
	switch in.Action {
	case api.ActionListOffers:
		return reply(api.Offers{Offers: m.Offers()})
	case api.ActionListProviders:
		return reply(api.Providers{Providers: m.Providers()})
	case api.ActionRegisterProvider:
		res, err := m.register(req.UserID, in.Name, in.Category)
		if err != nil {
			return nil, err
		}
		return reply(res)
	case "":
		return nil, envelope.NewError(api.CodeInvalidRequest, `"action" is required`)
	default:
		return nil, envelope.Errorf(api.CodeInvalidRequest, "unknown action %s (want %s, %s or %s)",
			envelope.Quote(in.Action), api.ActionListOffers, api.ActionListProviders, api.ActionRegisterProvider)
	}
}

// register adds a provider owned by userID, or returns the one userID
// already registered under that name.
func (m *Marketplace) register(userID, name, category string) (api.Registered, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return api.Registered{}, envelope.NewError(api.CodeInvalidRequest, `"name" is required`)
	}
	if n := utf8.RuneCountInString(name); n > api.MaxProviderName {
		return api.Registered{}, envelope.Errorf(api.CodeInvalidRequest, `"name" is %d characters, the limit is %d`, n, api.MaxProviderName)
	}
	if category == "" {
		category = "general"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.providers {
		if !strings.EqualFold(p.Name, name) {
			continue
		}
		if p.Owner != userID {
			return api.Registered{}, envelope.Errorf(api.CodeProviderExists, "a provider named %s already exists", envelope.Quote(p.Name))
		}
		return api.Registered{Provider: p}, nil
	}
	p := api.Provider{ID: fmt.Sprintf("prv-%d", m.nextID), Name: name, Category: category, Owner: userID}
	m.nextID++
	m.providers = append(m.providers, p)
	return api.Registered{Provider: p, Created: true}, nil
}
