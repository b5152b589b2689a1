package policy

import (
	"errors"
	"fmt"
	"sync"

	"cel.dev/cel-go/cel"
)

// Expression rules are written in CEL (https://cel.dev), the expression
// language of Kubernetes admission policies and Envoy: not Turing
// complete, side-effect free, and evaluated under a cost limit here, so a
// rule cannot loop or stall a node.
//
// ruleVariables are what a rule may read about a withdrawal:
//
//	amount_sat         int     what the destination receives (Bitcoin)
//	fee_sat            int     the transaction's fee
//	outflow_sat        int     amount plus fee
//	destination        string  the destination address
//	destination_label  string  its allowlist label, "" if not listed
//	allowlisted        bool    whether the destination is on the allowlist
//	wallet_id          string
//	wallet_role        string  hot, warm or cold
//	network            string
//	inputs             int     inputs spent
//	change_sat         int     what returns to the wallet
//	spent_24h_sat      int     outflow of the last 24 hours, this one excluded
//	spent_7d_sat       int     outflow of the last 7 days, this one excluded
//	hour               int     hour of the decision, UTC, 0-23
//	weekday            string  day of the decision, UTC, "mon" to "sun"
//	requested_by       string  the requesting officer, "" if none
//	originator         string  the originating system that signed the intent
//	chain              string  "bitcoin", "ethereum"
//	asset              string  "BTC", "ETH", a token symbol
//	amount             string  the amount in base units, in decimal
//
// Bitcoin withdrawals also set amount_sat, fee_sat, outflow_sat, inputs,
// change_sat, spent_24h_sat and spent_7d_sat; Ethereum ones nonce,
// gas_limit, chain_id, safe and token_contract. A rule that reads a
// variable its chain does not set cannot be evaluated, and refuses.
//
// Example: `destination_label != "" || amount_sat <= 10000000`.
var ruleVariables = map[string]*cel.Type{
	"amount_sat": cel.IntType, "fee_sat": cel.IntType, "outflow_sat": cel.IntType,
	"destination": cel.StringType, "destination_label": cel.StringType, "allowlisted": cel.BoolType,
	"wallet_id": cel.StringType, "wallet_role": cel.StringType, "network": cel.StringType,
	"inputs": cel.IntType, "change_sat": cel.IntType,
	"spent_24h_sat": cel.IntType, "spent_7d_sat": cel.IntType,
	"hour": cel.IntType, "weekday": cel.StringType,
	"requested_by": cel.StringType, "originator": cel.StringType,
	"chain": cel.StringType, "asset": cel.StringType, "amount": cel.StringType,
	"nonce": cel.IntType, "gas_limit": cel.IntType, "chain_id": cel.IntType,
	"safe": cel.BoolType, "token_contract": cel.StringType,
}

// Rule limits.
const (
	maxRuleExpr = 4096
	// ruleCostLimit bounds one evaluation (CEL's cost units: roughly one
	// per operation).
	ruleCostLimit = 10_000
)

var (
	ruleEnvOnce sync.Once
	ruleEnv     *cel.Env
	ruleEnvErr  error
)

func env() (*cel.Env, error) {
	ruleEnvOnce.Do(func() {
		var opts []cel.EnvOption
		for name, t := range ruleVariables {
			opts = append(opts, cel.Variable(name, t))
		}
		ruleEnv, ruleEnvErr = cel.NewEnv(opts...)
	})
	return ruleEnv, ruleEnvErr
}

type program struct {
	rule Rule
	prg  cel.Program
}

func compileRule(r Rule) (program, error) {
	if len(r.Expr) == 0 || len(r.Expr) > maxRuleExpr {
		return program{}, fmt.Errorf("expr: want 1 to %d bytes", maxRuleExpr)
	}
	e, err := env()
	if err != nil {
		return program{}, err
	}
	ast, iss := e.Compile(r.Expr)
	if iss.Err() != nil {
		return program{}, iss.Err()
	}
	if ast.OutputType() != cel.BoolType {
		return program{}, fmt.Errorf("expr is of type %s, want bool", ast.OutputType())
	}
	prg, err := e.Program(ast, cel.CostLimit(ruleCostLimit))
	if err != nil {
		return program{}, err
	}
	return program{rule: r, prg: prg}, nil
}

// eval reports whether the rule holds; an evaluation error (such as the
// cost limit) counts as false, with the error as the reason.
func (p program) eval(vars map[string]any) (bool, error) {
	out, _, err := p.prg.Eval(vars)
	if err != nil {
		return false, err
	}
	v, ok := out.Value().(bool)
	if !ok {
		return false, errors.New("did not evaluate to a bool")
	}
	return v, nil
}
