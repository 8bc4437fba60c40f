// An answer's realised cost: its usage priced at the router's current prices
// (or the config's override), counted in the metrics, kept for feedback, and
// reported back to the router so that a budget policy paces on real spend.

package main

import (
	"errors"
	"math"
)

// usage is the token counts of an answer, from its "usage" object.
type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// prices are model b's USD per million tokens: the config's override, else
// the router's. The router is asked at every answer, not once at start, so a
// reload or a SetModelPrice applies to the next answer.
func (g *Gateway) prices(b *Backend) (input, output float64, err error) {
	if b.InputUSDPerMTok != nil { // the config checks that both or neither are set
		return *b.InputUSDPerMTok, *b.OutputUSDPerMTok, nil
	}
	return g.router.ModelPrice(b.name)
}

// realisedCost prices u for model b; ok is false when it cannot be priced
// (logged and counted): a model outside the router's catalog without an
// override, or a cost that overflows.
func (g *Gateway) realisedCost(b *Backend, u *usage) (cost float64, ok bool) {
	input, output, err := g.prices(b)
	if err == nil {
		cost = (float64(u.PromptTokens)*input + float64(u.CompletionTokens)*output) / 1e6
		if cost <= math.MaxFloat64 {
			return cost, true
		}
		err = errors.New("the cost overflows")
	}
	g.metrics.Add(g.metrics.unpriced, 1, b.name)
	g.logf("answer from %s: its usage is not priced, no spend counted: %v", b.name, err)
	return 0, false
}

// account counts an answer's tokens and realised cost, reports the cost of a
// routed answer to the router, and keeps the outcome for POST /v1/feedback
// when the router issued a decision id.
func (g *Gateway) account(c *call, b *Backend, u *usage) {
	g.metrics.Add(g.metrics.answers, 1, b.name)
	if u != nil && (u.PromptTokens < 0 || u.CompletionTokens < 0) {
		// A broken backend; counters must not go down.
		g.logf("answer from %s: negative token counts in its usage, ignored", b.name)
		u = nil
	}
	o := outcome{model: b.name, costUSD: c.info.expectedCost(b.name), costSource: "estimate"}
	if u != nil {
		g.metrics.Add(g.metrics.tokens, float64(u.PromptTokens), b.name, "prompt")
		g.metrics.Add(g.metrics.tokens, float64(u.CompletionTokens), b.name, "completion")
		if cost, ok := g.realisedCost(b, u); ok {
			o.costUSD, o.costSource = cost, "usage"
			g.metrics.Add(g.metrics.spend, cost, b.name)
			if c.decision != nil { // a pass-through was never charged to the policy
				g.reportCost(c, b, cost)
			}
		}
	}
	if c.decision == nil || c.decision.ID == 0 {
		return
	}
	if b.name != c.decision.Model {
		dim, err := g.router.Dim()
		if err == nil {
			o.vector, err = g.router.EmbedText(c.req.text, make([]float32, dim))
		}
		if err != nil {
			g.logf("decision %d: no feedback possible for the fallback's answer: %v", c.decision.ID, err)
			return
		}
	}
	g.outcomes.put(c.decision.ID, o)
}

// reportCost tells the router what a routed answer really cost. A budget
// policy charged the decision's estimate for the model it chose when it
// decided; RecordCost adds realised - that estimate, so its spend ends up
// the realised spend. The expected cost is the chosen model's even when a
// fallback answered: it is what was charged.
func (g *Gateway) reportCost(c *call, b *Backend, realised float64) {
	expected := c.decision.CostUSD
	if err := g.recordCost(expected, realised); err != nil {
		g.metrics.Add(g.metrics.costErrs, 1)
		g.logf("answer from %s: reporting its cost to the router (expected %g, realised %g) failed: %v",
			b.name, expected, realised, err)
	}
}
