package yggdrasil

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/api"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// Payments is the heidrun service, an in-memory payment book kept per
// user: each user charges and lists only their own payments, under the
// user id their device token authenticated. It is safe for concurrent use.
type Payments struct {
	mu     sync.Mutex
	byUser map[string][]api.Payment
}

var _ ratatoskrhttp.Service = (*Payments)(nil)

// NewPayments returns an empty payment book.
func NewPayments() *Payments {
	return &Payments{byUser: make(map[string][]api.Payment)}
}

// Serve answers an api.HeidrunRequest. A charge answers an api.Payment,
// or PAYMENT_DECLINED over api.MaxChargeCents; bad input is refused with
// INVALID_REQUEST.
func (p *Payments) Serve(_ context.Context, req *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
	var in api.HeidrunRequest
	if err := decode(req.Payload, &in); err != nil {
		return nil, err
	}
	switch in.Action {
	case api.ActionCharge:
		pay, err := p.charge(req.UserID, in)
		if err != nil {
			return nil, err
		}
		return reply(pay)
	case api.ActionListPayments:
		p.mu.Lock()
		list := slices.Clone(p.byUser[req.UserID])
		p.mu.Unlock()
		if list == nil {
			list = []api.Payment{}
		}
		return reply(api.Payments{Payments: list})
	case "":
		return nil, envelope.NewError(api.CodeInvalidRequest, `"action" is required`)
	default:
		return nil, envelope.Errorf(api.CodeInvalidRequest, "unknown action %s (want %s or %s)",
			envelope.Quote(in.Action), api.ActionCharge, api.ActionListPayments)
	}
}

// charge captures a payment for userID, or declines it.
func (p *Payments) charge(userID string, in api.HeidrunRequest) (api.Payment, error) {
	switch {
	case in.AmountCents <= 0:
		return api.Payment{}, envelope.NewError(api.CodeInvalidRequest, `"amount_cents" must be a positive number of cents`)
	case !slices.Contains(api.Currencies(), in.Currency):
		return api.Payment{}, envelope.Errorf(api.CodeInvalidRequest, "currency %s is not supported (want one of %s)",
			envelope.Quote(in.Currency), strings.Join(api.Currencies(), ", "))
	case in.AmountCents > api.MaxChargeCents:
		return api.Payment{}, envelope.Errorf(api.CodePaymentDeclined, "%s %s exceeds the limit of %s %s per charge",
			api.Cents(in.AmountCents), in.Currency, api.Cents(api.MaxChargeCents), in.Currency)
	}
	pay := api.Payment{
		ID:          "pay_" + strings.ToLower(rand.Text()[:16]),
		Status:      "captured",
		AmountCents: in.AmountCents,
		Currency:    in.Currency,
		Description: in.Description,
		CreatedAt:   time.Now().UTC().Truncate(time.Second),
	}
	p.mu.Lock()
	p.byUser[userID] = append(p.byUser[userID], pay)
	p.mu.Unlock()
	return pay, nil
}
