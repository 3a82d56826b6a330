// Package api is the contract between the example server and its devices:
// the service names, the JSON payloads of the nornen and heidrun services,
// and their error codes. A real platform would publish it (as JSON schema,
// protobuf or a client SDK); here both sides import it.
package api

import (
	"fmt"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// Service names, as devices put them in metadata["service"].
const (
	ServiceEcho    = "echo"    // answers the payload unchanged
	ServiceNornen  = "nornen"  // the marketplace
	ServiceHeidrun = "heidrun" // payments
)

// The services' own error codes, sent in error_code next to the protocol's.
const (
	// CodeInvalidRequest: the payload is not JSON the service understands,
	// or a field is missing or out of range.
	CodeInvalidRequest envelope.Code = "INVALID_REQUEST"
	// CodeProviderExists: another user already registered a provider of
	// that name (nornen).
	CodeProviderExists envelope.Code = "PROVIDER_EXISTS"
	// CodePaymentDeclined: the charge was refused (heidrun).
	CodePaymentDeclined envelope.Code = "PAYMENT_DECLINED"
)

// Nornen actions.
const (
	ActionListOffers       = "list_offers"
	ActionListProviders    = "list_providers"
	ActionRegisterProvider = "register_provider"
)

// MaxProviderName is the longest provider name nornen accepts, in
// characters.
const MaxProviderName = 64

// NornenRequest is the payload of a nornen request.
type NornenRequest struct {
	// Action is ActionListOffers, ActionListProviders or
	// ActionRegisterProvider.
	Action string `json:"action"`
	// Name and Category describe the provider to register. Category
	// defaults to "general".
	Name     string `json:"name,omitempty"`
	Category string `json:"category,omitempty"`
}

// Provider is a seller on the marketplace.
type Provider struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Category string `json:"category"`
	Owner    string `json:"owner"` // the user who registered it
}

// Offer is something a provider sells.
type Offer struct {
	ID         string `json:"id"`
	ProviderID string `json:"provider_id"`
	Title      string `json:"title"`
	PriceCents int64  `json:"price_cents"`
	Currency   string `json:"currency"`
}

// Offers answers ActionListOffers.
type Offers struct {
	Offers []Offer `json:"offers"`
}

// Providers answers ActionListProviders, and GET /api/providers.
type Providers struct {
	Providers []Provider `json:"providers"`
}

// Registered answers ActionRegisterProvider.
type Registered struct {
	Provider Provider `json:"provider"`
	// Created is false when the user had already registered this name:
	// registering is idempotent for its owner.
	Created bool `json:"created"`
}

// Heidrun actions.
const (
	ActionCharge       = "charge"
	ActionListPayments = "list_payments"
)

// MaxChargeCents is heidrun's published limit for a single charge; larger
// charges are declined with CodePaymentDeclined.
const MaxChargeCents = 50_000

// Currencies returns the ISO 4217 codes heidrun accepts.
func Currencies() []string { return []string{"EUR", "SEK", "NOK", "DKK"} }

// HeidrunRequest is the payload of a heidrun request.
type HeidrunRequest struct {
	// Action is ActionCharge or ActionListPayments.
	Action string `json:"action"`
	// AmountCents, Currency and Description describe a charge.
	AmountCents int64  `json:"amount_cents,omitempty"`
	Currency    string `json:"currency,omitempty"`
	Description string `json:"description,omitempty"`
}

// Payment is a captured charge; it answers ActionCharge.
type Payment struct {
	ID          string    `json:"payment_id"`
	Status      string    `json:"status"` // "captured"
	AmountCents int64     `json:"amount_cents"`
	Currency    string    `json:"currency"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Payments answers ActionListPayments: the calling user's payments only.
type Payments struct {
	Payments []Payment `json:"payments"`
}

// Cents formats an amount in cents with two decimals: 1250 is "12.50".
func Cents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}
