import { properties } from './selftest.props.js';
import { fuzzSuite } from './suite.js';

fuzzSuite('harness', new URL('./selftest.props.js', import.meta.url), properties);
