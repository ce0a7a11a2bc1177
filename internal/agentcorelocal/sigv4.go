package agentcorelocal

import (
	"errors"
	"net/http"

	"github.com/agentgate/agentgate/internal/sigv4"
)

// signingService is the name AgentCore's data plane is signed for.
const signingService = "bedrock-agentcore"

// authenticate verifies r's SigV4 signature against the configured key
// pair, region and service. payloadHash is the hex SHA-256 of the body as
// received and bodyLen its length. Every failure is an AccessDeniedException,
// the only authentication error the bedrockagentcore SDK models.
func (s *Server) authenticate(r *http.Request, payloadHash string, bodyLen int64) *apiError {
	err := s.verifier.Verify(r, payloadHash, bodyLen)
	if err == nil {
		return nil
	}
	var refused *sigv4.Error
	if errors.As(err, &refused) {
		return accessDenied("%s", refused.Message)
	}
	return accessDenied("%v", err)
}
