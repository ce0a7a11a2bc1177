package gateway

// ValidAgentName reports whether s may be a public agent name: 1 to 63 of
// a-z 0-9 . _ - starting with a letter or digit. Names appear in URL paths,
// and every request checks one.
func ValidAgentName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return true
}
