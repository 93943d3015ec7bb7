package msgtmpl

import "testing"

func TestInlinePhrases(t *testing.T) {
	cat := map[string]string{"qty": "Qty", "total": "Total", "apos": "d'achat", "spaced": "Qty ", "amp": "A & B"}
	cases := []struct {
		name, src, want string
		html            bool
	}{
		{"text", `a {{t "qty"}}: {{.Quantity}}`, `a Qty: {{.Quantity}}`, false},
		{"text, any character", `{{t "apos"}} {{t "amp"}}`, `d'achat A & B`, false},
		{"unknown key stays a call (and fails at render)", `{{t "nope"}}`, `{{t "nope"}}`, false},
		{"edge spaces could meet a trim marker", `{{t "spaced"}}{{- .X}}`, `{{t "spaced"}}{{- .X}}`, false},
		{"trim markers and pipelines are left alone", `{{- t "qty"}} {{t "qty" | printf "%s"}}`, `{{- t "qty"}} {{t "qty" | printf "%s"}}`, false},
		{"html text node", `<td>{{t "qty"}} {{.Quantity}}</td><td>{{t "total"}}</td>`, `<td>Qty {{.Quantity}}</td><td>Total</td>`, true},
		{"html attribute", `<a title="{{t "qty"}}">`, `<a title="{{t "qty"}}">`, true},
		{"html raw text", `<title>{{t "qty"}}</title><script>x="{{t "qty"}}"</script>`, `<title>{{t "qty"}}</title><script>x="{{t "qty"}}"</script>`, true},
		{"html comment", `<!-- {{t "qty"}} -->`, `<!-- {{t "qty"}} -->`, true},
		{"html phrase the escaper would change", `<p>{{t "apos"}} {{t "amp"}}</p>`, `<p>{{t "apos"}} {{t "amp"}}</p>`, true},
	}
	for _, c := range cases {
		if got := inlinePhrases(c.src, cat, c.html); got != c.want {
			t.Errorf("%s: inlinePhrases(%q) = %q, want %q", c.name, c.src, got, c.want)
		}
	}
}
